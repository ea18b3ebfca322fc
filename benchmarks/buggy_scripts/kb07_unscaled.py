import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from keras import layers
from sklearn.datasets import load_digits

variant = sys.argv[1]
keras.utils.set_random_seed(0)
d = load_digits()
# rescale the 0..16 intensities to 8-bit pixels, like a real image dataset
img = np.round(d.data * 255.0 / 16.0).astype("uint8")
y = d.target
perm = np.random.default_rng(0).permutation(len(y))
img, y = img[perm], y[perm]

if variant == "buggy":
    x = img.astype("float32")  # the bug
else:
    x = img.astype("float32") / 255.0  # the bug
xtr, ytr, xte, yte = x[:1400], y[:1400], x[1400:], y[1400:]

model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(64, activation="tanh"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=8, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
