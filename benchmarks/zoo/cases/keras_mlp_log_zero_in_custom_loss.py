"""A hand-written binary cross-entropy passed to compile(): ``-(y*log(p) + (1-y)*log(1-p))`` without clipping.
Once the sigmoid saturates at exactly 1.0 in float32, log(1-p) = -inf, 0 * -inf = NaN, and the weights follow.
Fixed: clip p into [eps, 1-eps] (what keras.losses.binary_crossentropy does).
"""

from __future__ import annotations

import keras
from keras import ops

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_log_zero_in_custom_loss",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="binary",
    description="Custom BCE loss takes log(0) once the sigmoid output saturates; fixed: clip p.",
    categories=("loss",),
    layer=None,
    symptoms=("numerical_error",),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.blobs(seed)
    buggy = data.is_buggy(variant)

    def bce(y_true, y_pred):  # a Keras loss: backend tensors in, a scalar out
        y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred))
        if not buggy:
            y_pred = ops.clip(y_pred, 1e-7, 1 - 1e-7)  # the fix
        return -ops.mean(y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred))

    model = common_keras.mlp(10, [32, 32], 1, output="sigmoid")
    model.compile(keras.optimizers.SGD(learning_rate=0.5), bce)
    history = model.fit(x_train, y_train.astype("float32"), epochs=20, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
