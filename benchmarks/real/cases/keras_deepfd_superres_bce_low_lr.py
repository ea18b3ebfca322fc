"""DeepFD benchmark program 53 (kcct-fujimotolab/keras-super-resolution `train.py`): a three-layer CNN that
maps a bicubic-resized photo to the plainly resized one.

``load_images`` reads every photo of ``images/``, resizes it to 128x128 twice (bicubic for the input, the
default filter for the target) and scales both to [0, 1]; ``build_model`` is Conv2D(128, 3x3, same) relu,
Conv2D(64, 3x3, same) relu, Conv2D(3, 3x3, same) sigmoid; ``fit`` with batch 64 for 50 epochs, then
``evaluate`` on ``images_sample/``. The bug: ``Adam(lr=0.0001)`` with ``loss='binary_crossentropy'``; the
fix (commit a7616b6) uses ``Adam(lr=0.001)`` and ``loss='mse'``.

Ported (re-written to the same model, loss, optimizer and fit loop): the photo folders -> stand-in photos
drawn in the script (smooth colour fields with a few hard-edged shapes, 64x64) resized with PIL's bicubic and
nearest filters (nearest was PIL's default for ``resize`` in 2017) to 16x16 instead of 128x128; 256
training and 64 held-out images; 30 epochs instead of 50. Measure: the held-out R^2 of the predicted images
against the targets.
"""

import _data
import _harness
import keras
import numpy as np
from keras.layers import Activation, Conv2D
from keras.models import Sequential
from keras.optimizers import Adam
from PIL import Image

_harness.seed_everything()
rng = np.random.default_rng(_harness.seed())

SOURCE, SIZE = 64, 16


def stand_in_photos(n):
    """Smooth colour fields with two hard-edged rectangles each, uint8 RGB (n, 64, 64, 3)."""
    photos = np.stack([_data.smooth_fields(rng, n, SOURCE, 6) for _ in range(3)], axis=-1)
    for k in range(n):
        for _ in range(2):
            y0, x0 = rng.integers(0, SOURCE - 12, size=2)
            h, w = rng.integers(6, 24, size=2)
            photos[k, y0:y0 + h, x0:x0 + w] = rng.uniform(0, 1, size=3)
    return (np.clip(photos, 0, 1) * 255).astype(np.uint8)


def load_images(photos, size):
    x_images, y_images = [], []
    for photo in photos:
        image = Image.fromarray(photo, mode="RGB")
        x_images.append(np.array(image.resize(size, Image.BICUBIC)))
        y_images.append(np.array(image.resize(size, Image.NEAREST)))
    return np.array(x_images) / 255, np.array(y_images) / 255


def build_model(input_size):
    model = Sequential()
    model.add(keras.Input(shape=(input_size[0], input_size[1], 3)))
    model.add(Conv2D(128, kernel_size=(3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(Conv2D(64, kernel_size=(3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(Conv2D(3, kernel_size=(3, 3), padding="same"))
    model.add(Activation("sigmoid"))
    return model


x_images, y_images = load_images(stand_in_photos(256), (SIZE, SIZE))
model = build_model((SIZE, SIZE))
if _harness.buggy():
    optimizer, loss = Adam(learning_rate=0.0001), "binary_crossentropy"  # the bug
else:
    optimizer, loss = Adam(learning_rate=0.001), "mse"
model.compile(loss=loss, optimizer=optimizer)
log = _harness.keras_loss_log()
model.fit(x_images, y_images, batch_size=64, epochs=30, callbacks=[log], verbose=2)

x_test, y_test = load_images(stand_in_photos(64), (SIZE, SIZE))
print("evaluate:", model.evaluate(x_test, y_test, batch_size=64, verbose=0))
pred = keras.ops.convert_to_numpy(model.predict(x_test, batch_size=64, verbose=0))
r2 = 1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
print(f"held-out R^2 {r2:.3f}")
_harness.report(metric=float(r2), metric_name="R^2 (held-out images)", chance=0.0, losses=log.losses)
