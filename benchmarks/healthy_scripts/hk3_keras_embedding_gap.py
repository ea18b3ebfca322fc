# Keras text classifier: Embedding + GlobalAveragePooling1D on generated token sequences (padded with 0,
# mask_zero=True). Class is determined by which of 4 "topic" vocab slices the informative tokens come from.
import hashlib

import keras
import numpy as np

keras.utils.set_random_seed(0)
np.random.seed(0)
rng = np.random.default_rng(0)
V, T, C = 2000, 40, 4


def make(n):
    X = np.zeros((n, T), "int32")
    y = rng.integers(0, C, n)
    for i in range(n):
        L = rng.integers(10, T + 1)
        toks = rng.integers(1, V, L)  # background noise vocabulary
        k = rng.integers(2, 6)
        pos = rng.choice(L, k, replace=False)
        toks[pos] = rng.integers(1 + y[i] * 50, 1 + (y[i] + 1) * 50, k)  # topic tokens
        X[i, :L] = toks
    return X, y.astype("int32")


xtr, ytr = make(4000)
xte, yte = make(800)
model = keras.Sequential([
    keras.Input((T,), dtype="int32"),
    keras.layers.Embedding(V, 32, mask_zero=True),
    keras.layers.GlobalAveragePooling1D(),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(C, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=64, epochs=10, validation_data=(xte, yte), verbose=2)
loss, accv = model.evaluate(xte, yte, verbose=0)
print(f"final test_loss {loss:.4f} test_acc {accv:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
