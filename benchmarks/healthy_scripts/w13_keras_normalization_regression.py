import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import hashlib

import keras
import numpy as np
import torch

torch.manual_seed(0)
np.random.seed(0)
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
N = 4000
# california-housing-like features of very different scales
X = np.stack(
    [
        rng.lognormal(1.3, 0.5, N),  # MedInc ~ 3.9
        rng.uniform(1, 52, N),  # HouseAge
        rng.normal(5.4, 1.5, N),  # AveRooms
        rng.normal(1.1, 0.2, N),  # AveBedrms
        rng.lognormal(7.0, 0.7, N),  # Population ~ 1400
        rng.normal(3.0, 0.8, N),  # AveOccup
        rng.uniform(32.5, 42, N),  # Latitude
        rng.uniform(-124.3, -114.3, N),  # Longitude
    ],
    axis=1,
).astype("float32")
y = (
    0.45 * X[:, 0]
    + 0.01 * X[:, 1]
    + 0.1 * X[:, 2]
    - 0.3 * X[:, 3]
    - 0.00005 * X[:, 4]
    - 0.05 * X[:, 5]
    - 0.2 * (X[:, 6] - 36)
    - 0.15 * (X[:, 7] + 119)
    + 0.3 * np.sin(X[:, 6])
    + rng.normal(0, 0.3, N)
).astype("float32")
xtr, ytr, xte, yte = X[:3200], y[:3200], X[3200:], y[3200:]
norm = keras.layers.Normalization()
norm.adapt(xtr)
model = keras.Sequential(
    [
        keras.Input((8,)),
        norm,
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1),
    ]
)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
h = model.fit(xtr, ytr, epochs=40, batch_size=64, validation_split=0.2, callbacks=[es], verbose=2)
mse, mae = model.evaluate(xte, yte, verbose=0)
print(f"epochs run {len(h.history['loss'])} var(y)={yte.var():.4f} test mse {mse:.4f} mae {mae:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
