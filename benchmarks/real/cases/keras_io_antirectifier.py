"""keras-io `examples/keras_recipes/antirectifier.py` (Simple custom layer example: Antirectifier, fchollet):
an MLP on flattened MNIST, Dense(256) / Antirectifier / Dense(256) / Antirectifier / Dropout(0.5) / Dense(10)
logits, where the custom Antirectifier layer centres its input, concatenates its positive and negative parts
and mixes them back to the input width with a he_normal kernel; sparse categorical cross-entropy
``from_logits=True`` with RMSprop(), batch 128, ``validation_split=0.15``.

Ported (re-written to the same layers, custom layer, loss, optimizer, batch size and ``model.fit`` call; the
layer's TF ops become ``keras.ops``): the MNIST download becomes the local stand-in (6,000 train / 1,000 test
images instead of 60,000 / 10,000); 8 epochs instead of 20.
"""

import _data
import _harness
import keras
from keras import layers, ops

_harness.seed_everything()


class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(output_dim * 2, output_dim), initializer=self.initializer,
                                      name="kernel", trainable=True)

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        pos = ops.relu(inputs)
        neg = ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        return ops.matmul(concatenated, self.kernel)

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "initializer": keras.initializers.serialize(self.initializer)}


batch_size = 128
num_classes = 10
epochs = 8

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255

model = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        layers.Dense(256),
        Antirectifier(),
        layers.Dense(256),
        Antirectifier(),
        layers.Dropout(0.5),
        layers.Dense(10),
    ]
)
model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer=keras.optimizers.RMSprop(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15, verbose=2)

test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.1, losses=history.history["loss"])
