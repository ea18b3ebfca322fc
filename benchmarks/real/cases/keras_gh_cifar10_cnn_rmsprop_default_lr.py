"""keras-team/keras `examples/cifar10_cnn.py` before commit 98ec9fc ("fix rmsprop learning rate for
convergence", PR #6182): a small CNN on CIFAR-10 (Conv2D 32 same / Conv2D 32 / MaxPooling / Dropout 0.25,
Conv2D 64 same / Conv2D 64 / MaxPooling / Dropout 0.25, Flatten, Dense 512 relu, Dropout 0.5, Dense 10
softmax), categorical cross-entropy, batch 32, trained on batches of real-time augmented images (random
shifts of up to 10 % and horizontal flips).

The bug: the model is compiled with ``optimizer='rmsprop'``, i.e. RMSprop at its default learning rate
0.001, at which (the PR says) it "cannot converge in this example"; the fix uses
``rmsprop(lr=0.0001, decay=1e-6)``.

Ported to Keras 3 with the same model, loss, optimizer settings and batch size; the fixed variant's
``decay=1e-6`` (Keras 2's per-step inverse-time decay) becomes an ``InverseTimeDecay`` schedule. The
ImageDataGenerator (removed from Keras 3) becomes a ``keras.utils.PyDataset`` doing the same random shifts
(nearest-pixel fill) and flips; the CIFAR-10 download becomes the local stand-in (see the TOML); a few
epochs instead of 200. The outcome is the test accuracy from ``evaluate``.
"""

import os

import _data
import _harness
import keras
import numpy as np
from keras.layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from keras.models import Sequential

_harness.seed_everything()

batch_size = 32
num_classes = 10
epochs = int(os.environ.get("EP", 4))
NT = int(os.environ.get("NT", 5000))

(x_train, y_train), (x_test, y_test) = _data.cifar10_load_data(seed=_harness.seed(), n_train=NT)
print("x_train shape:", x_train.shape)

y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(keras.Input(shape=x_train.shape[1:]))
model.add(Conv2D(32, (3, 3), padding="same"))
model.add(Activation("relu"))
model.add(Conv2D(32, (3, 3)))
model.add(Activation("relu"))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))

model.add(Conv2D(64, (3, 3), padding="same"))
model.add(Activation("relu"))
model.add(Conv2D(64, (3, 3)))
model.add(Activation("relu"))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))

model.add(Flatten())
model.add(Dense(512))
model.add(Activation("relu"))
model.add(Dropout(0.5))
model.add(Dense(num_classes))
model.add(Activation("softmax"))

if _harness.buggy():
    opt = "rmsprop"  # the bug: RMSprop at its default learning rate 0.001
else:
    opt = keras.optimizers.RMSprop(
        learning_rate=keras.optimizers.schedules.InverseTimeDecay(0.0001, decay_steps=1, decay_rate=1e-6))

model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])

x_train = x_train.astype("float32")
x_test = x_test.astype("float32")
x_train /= 255
x_test /= 255


class AugmentedBatches(keras.utils.PyDataset):
    """ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True).flow(x, y,
    batch_size): shuffled batches, each image shifted by up to 10 % (nearest fill) and flipped half the time."""

    def __init__(self, x, y, batch_size, rng):
        super().__init__()
        self.x, self.y, self.batch_size, self.rng = x, y, batch_size, rng
        self.order = rng.permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        xb = self.x[idx].copy()
        h, w = xb.shape[1:3]
        for k in range(len(xb)):
            dy = int(round(self.rng.uniform(-0.1, 0.1) * h))
            dx = int(round(self.rng.uniform(-0.1, 0.1) * w))
            rows = np.clip(np.arange(h) - dy, 0, h - 1)
            cols = np.clip(np.arange(w) - dx, 0, w - 1)
            xb[k] = xb[k][rows][:, cols]
            if self.rng.random() < 0.5:
                xb[k] = xb[k][:, ::-1]
        return xb, self.y[idx]


log = _harness.keras_loss_log()
flow = AugmentedBatches(x_train, y_train, batch_size, np.random.default_rng(_harness.seed()))
model.fit(flow, steps_per_epoch=x_train.shape[0] // batch_size, epochs=epochs,
          validation_data=(x_test, y_test), verbose=2, callbacks=[log])

test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.1, losses=log.losses)
