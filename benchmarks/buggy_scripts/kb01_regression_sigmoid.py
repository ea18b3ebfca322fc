import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)

# house-price-like regression: 8 features, target in roughly [50, 500]
rng = np.random.default_rng(0)
x = rng.normal(size=(3000, 8)).astype("float32")
w = rng.normal(size=(8,)).astype("float32")
y = (250 + 60 * x @ w / np.sqrt(8) + 20 * np.sin(x[:, 0])).astype("float32")
xtr, ytr, xte, yte = x[:2500], y[:2500], x[2500:], y[2500:]
ymean, ystd = ytr.mean(), ytr.std()

if variant == "buggy":
    out_act = "sigmoid"  # the bug
else:
    out_act = None  # the bug

model = keras.Sequential([
    keras.Input(shape=(8,)),
    layers.Dense(64, activation="relu", name="hidden1"),
    layers.Dense(64, activation="relu", name="hidden2"),
    layers.Dense(1, activation=out_act, name="price"),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
model.fit(xtr, ytr, batch_size=64, epochs=30, verbose=0)
loss, mae = model.evaluate(xte, yte, verbose=0)
print(f"test mse={loss:.2f} mae={mae:.2f} (target std {ystd:.1f})")
