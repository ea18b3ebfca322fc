"""AUTOTRAINER demo `Data_Issue_case` (``demo_data.py``): a small CNN trained on raw MNIST pixels.

The original builds a ``Sequential`` CNN (Conv2D 16 and 36 filters of 3x3 with max-pooling and dropout,
Dense 256 and 128, softmax output, all ``he_uniform``) with Adam lr=1e-3, categorical cross-entropy,
batch 32 and 10 epochs. Its ``get_dataset`` computes the preprocessed images (``/ 255``) and then
overwrites them with the raw 0..255 arrays, so the network sees unscaled pixels; AUTOTRAINER's data repair
(``op_preprocess``) rescales the inputs to [0, 1].

Ported: same model, loss, optimizer, batch size and ``model.fit`` loop; ``keras.datasets.mnist`` becomes
the local stand-in ``_data.mnist_load_data`` (6,000 / 1,000 images of the same shape and range); 1 epoch instead of 10; the per-batch losses are
recorded with a ``LambdaCallback``.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

(x, y), (x_val, y_val) = _data.mnist_load_data(seed=_harness.seed())
x = x.reshape(x.shape[0], 28, 28, 1)
x_val = x_val.reshape(x_val.shape[0], 28, 28, 1)
scaled, scaled_val = x.astype("float32") / 255, x_val.astype("float32") / 255
if _harness.buggy():
    inputs, inputs_val = x.astype("float32"), x_val.astype("float32")  # the bug: the raw 0..255 pixels
else:
    inputs, inputs_val = scaled, scaled_val
y_cat, y_val_cat = keras.utils.to_categorical(y, 10), keras.utils.to_categorical(y_val, 10)

init = "he_uniform"
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, (3, 3), padding="valid", activation="relu", kernel_initializer=init),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Dropout(0.25),
    layers.Conv2D(36, (3, 3), padding="valid", activation="relu", kernel_initializer=init),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Dropout(0.25),
    layers.Flatten(),
    layers.Dense(256, activation="relu", kernel_initializer=init),
    layers.Dense(128, activation="relu", kernel_initializer=init),
    layers.Dropout(0.25),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="categorical_crossentropy",
              metrics=["accuracy"])
losses = []
record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]))
model.fit(inputs, y_cat, batch_size=32, epochs=1, verbose=0, callbacks=[record])

pred = model.predict(inputs_val, verbose=0)
accuracy = float(np.mean(pred.argmax(axis=1) == y_val))
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
