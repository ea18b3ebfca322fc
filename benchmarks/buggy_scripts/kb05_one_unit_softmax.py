import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)

# binary classification: is the point inside a ring?
rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, size=(4000, 2)).astype("float32")
r = np.sqrt((x ** 2).sum(1))
y = ((r > 0.8) & (r < 1.6)).astype("float32")
xtr, ytr, xte, yte = x[:3200], y[:3200], x[3200:], y[3200:]

inp = keras.Input(shape=(2,))
h = layers.Dense(32, activation="relu")(inp)
h = layers.Dense(32, activation="relu")(h)
if variant == "buggy":
    out = layers.Dense(1, activation="softmax", name="output")(h)  # the bug
else:
    out = layers.Dense(1, activation="sigmoid", name="output")(h)  # the bug
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=64, epochs=10, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f} (positive rate {yte.mean():.2f})")
