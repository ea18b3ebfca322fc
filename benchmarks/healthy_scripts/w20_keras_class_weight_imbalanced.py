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
N = 8000
y = (rng.random(N) < 0.05).astype("float32")
X = rng.normal(0, 1, (N, 12)).astype("float32")
X[y == 1, :4] += 1.2  # positives shifted in 4 features
X[y == 1, 4] *= 2.0
xtr, ytr, xva, yva = X[:6400], y[:6400], X[6400:], y[6400:]
print("positive rate", ytr.mean())
model = keras.Sequential(
    [
        keras.Input((12,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss="binary_crossentropy",
    metrics=[
        keras.metrics.AUC(name="auc"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
    ],
)
model.fit(
    xtr, ytr, epochs=10, batch_size=128, class_weight={0: 1, 1: 19}, validation_data=(xva, yva), verbose=2
)
res = model.evaluate(xva, yva, verbose=0, return_dict=True)
print("val", {k: round(float(v), 4) for k, v in res.items()})
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
