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
pos = ["great", "excellent", "wonderful", "love", "happy", "amazing", "fine", "superb", "nice", "good"]
neg = ["bad", "terrible", "awful", "hate", "sad", "horrible", "poor", "worst", "ugly", "boring"]
common = ["the", "a", "movie", "film", "was", "is", "it", "this", "very", "really", "and", "plot", "actors"]


def sent(words):
    n = rng.integers(5, 15)
    toks = [rng.choice(words) if rng.random() < 0.4 else rng.choice(common) for _ in range(n)]
    return " ".join(toks)


N = 2000
y = rng.integers(0, 2, N)
texts = np.array([sent(pos if t else neg) for t in y])
vec = keras.layers.TextVectorization(max_tokens=200, output_mode="int", output_sequence_length=16)
vec.adapt(texts[:1600])
X = np.asarray(vec(texts))
xtr, ytr, xte, yte = X[:1600], y[:1600].astype("float32"), X[1600:], y[1600:].astype("float32")
model = keras.Sequential(
    [
        keras.Input((16,), dtype="int32"),
        keras.layers.Embedding(200, 16),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, epochs=10, batch_size=32, validation_split=0.1, verbose=2)
loss, a = model.evaluate(xte, yte, verbose=0)
print(f"test loss {loss:.4f} acc {a:.4f}")
print("vocab", vec.get_vocabulary()[:8])
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
