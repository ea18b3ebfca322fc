import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import hashlib

import keras
import numpy as np
from keras import ops

np.random.seed(0)
keras.utils.set_random_seed(0)
try:
    import torch

    torch.manual_seed(0)
except ImportError:
    pass


def within_half(y_true, y_pred):
    return ops.mean(ops.cast(ops.abs(y_true - y_pred) < 0.5, "float32"))


rng = np.random.default_rng(0)
N, K = 5000, 30
num = rng.normal(0, 1, (N, 6)).astype("float32")
cat = rng.integers(0, K, (N, 1)).astype("int32")
cat_eff = rng.normal(0, 1.5, K).astype("float32")
coef = rng.normal(0, 1, 6).astype("float32")
y = (num @ coef + cat_eff[cat[:, 0]] + rng.normal(0, 0.2, N)).astype("float32")[:, None]
tr, va = slice(0, 4000), slice(4000, N)

num_in = keras.Input((6,), name="numeric")
cat_in = keras.Input((1,), dtype="int32", name="category")
e = keras.layers.Flatten()(keras.layers.Embedding(K, 4)(cat_in))
h = keras.layers.Concatenate()([num_in, e])
h = keras.layers.Dense(32, activation="relu")(h)
h = keras.layers.Dense(16, activation="relu")(h)
out = keras.layers.Dense(1)(h)
model = keras.Model([num_in, cat_in], out)
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse", metrics=[within_half, "mae"])
model.fit(
    {"numeric": num[tr], "category": cat[tr]},
    y[tr],
    epochs=10,
    batch_size=64,
    validation_data=({"numeric": num[va], "category": cat[va]}, y[va]),
    verbose=2,
)
res = model.evaluate({"numeric": num[va], "category": cat[va]}, y[va], verbose=0, return_dict=True)
print("val", {k: round(float(v), 4) for k, v in res.items()}, "var(y)", round(float(y[va].var()), 4))
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
