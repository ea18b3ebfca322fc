# Keras Conv1D classifier on generated 1-D signals (sine / square / sawtooth / noise bursts) with
# ReduceLROnPlateau and EarlyStopping(restore_best_weights=True) callbacks, epochs=60 upper bound.
import hashlib

import keras
import numpy as np

keras.utils.set_random_seed(0)
np.random.seed(0)
rng = np.random.default_rng(0)
T, C = 128, 4


def make(n):
    t = np.linspace(0, 1, T)
    y = rng.integers(0, C, n)
    X = np.zeros((n, T, 1), "float32")
    for i in range(n):
        f, ph = rng.uniform(2, 8), rng.uniform(0, 2 * np.pi)
        s = [np.sin(2 * np.pi * f * t + ph), np.sign(np.sin(2 * np.pi * f * t + ph)),
             2 * ((f * t + ph / 6.283) % 1) - 1, (rng.random(T) < 0.1) * rng.normal(0, 2, T)][y[i]]
        X[i, :, 0] = s + rng.normal(0, 0.4, T)
    return X, y.astype("int32")


xtr, ytr = make(2000)
xva, yva = make(400)
xte, yte = make(400)
model = keras.Sequential([
    keras.Input((T, 1)),
    keras.layers.Conv1D(16, 7, activation="relu", padding="same"),
    keras.layers.MaxPooling1D(2),
    keras.layers.Conv1D(32, 5, activation="relu", padding="same"),
    keras.layers.GlobalMaxPooling1D(),
    keras.layers.Dense(C, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
cbs = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, min_lr=1e-5),
       keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)]
hist = model.fit(xtr, ytr, batch_size=64, epochs=60, validation_data=(xva, yva), callbacks=cbs, verbose=2)
print("epochs run", len(hist.history["loss"]))
loss, accv = model.evaluate(xte, yte, verbose=0)
print(f"final test_loss {loss:.4f} test_acc {accv:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
