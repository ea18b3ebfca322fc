import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

rng = np.random.default_rng(0)
keras.utils.set_random_seed(0)
n, T, V = 3000, 20, 30
lengths = rng.integers(3, T + 1, n)
seqs = np.zeros((n, T), "int32")
for i, L in enumerate(lengths):
    seqs[i, :L] = rng.integers(1, V, L)
y = ((seqs == 7).sum(1) > 0).astype("float32")  # does token 7 occur?
model = keras.Sequential(
    [
        keras.Input((T,), dtype="int32"),
        keras.layers.Embedding(V, 16, mask_zero=True),
        keras.layers.LSTM(32),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
model.fit(seqs[:2500], y[:2500], epochs=6, batch_size=64, verbose=0, class_weight={0: 1.0, 1: 1.5})
print("acc", model.evaluate(seqs[2500:], y[2500:], verbose=0)[1])
