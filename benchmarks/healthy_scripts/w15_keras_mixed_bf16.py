import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import hashlib

import keras
import numpy as np
import torch
from digits import digits

torch.manual_seed(0)
np.random.seed(0)
keras.utils.set_random_seed(0)
keras.mixed_precision.set_global_policy("mixed_bfloat16")
xtr, ytr, xte, yte = [t.numpy() for t in digits()]
model = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
        keras.layers.Activation("softmax", dtype="float32"),
    ]
)
print("policy", model.layers[0].dtype_policy, "last", model.layers[-1].dtype_policy)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
model.fit(xtr, ytr, epochs=10, batch_size=32, validation_split=0.1, verbose=2)
loss, a = model.evaluate(xte, yte, verbose=0)
print(f"test loss {loss:.4f} acc {a:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
