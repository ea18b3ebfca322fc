import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from sklearn.datasets import load_digits

d = load_digits()
x = (d.data / 16.0).astype("float32")
y = d.target
yreg = (x.mean(1) * 10).astype("float32")
keras.utils.set_random_seed(0)
inp = keras.Input((64,), name="pixels")
h = keras.layers.Dense(128, activation="relu")(inp)
h = keras.layers.Dense(64, activation="relu")(h)
cls = keras.layers.Dense(10, activation="softmax", name="digit")(h)
reg = keras.layers.Dense(1, name="ink")(h)
model = keras.Model(inp, [cls, reg])
model.compile(
    "adam",
    loss={"digit": "sparse_categorical_crossentropy", "ink": "mse"},
    loss_weights={"digit": 1.0, "ink": 0.2},
    metrics={"digit": "accuracy"},
)
w = np.where(y == 3, 2.0, 1.0).astype("float32")
model.fit(
    x[:1400],
    {"digit": y[:1400], "ink": yreg[:1400]},
    epochs=8,
    batch_size=32,
    verbose=0,
    validation_split=0.15,
)
print(model.evaluate(x[1400:], {"digit": y[1400:], "ink": yreg[1400:]}, verbose=0, return_dict=True))
