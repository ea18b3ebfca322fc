import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)

# toy sentiment: sequences of 20 token ids from a 500-word vocab;
# label = more "positive" words (ids 1..25) than "negative" words (ids 26..50)
rng = np.random.default_rng(0)
VOCAB, LEN = 500, 20
x = rng.integers(1, VOCAB, size=(4000, LEN))
mask = rng.random((4000, LEN)) < 0.3
x = np.where(mask, rng.integers(1, 51, size=(4000, LEN)), x)
pos = ((x >= 1) & (x <= 25)).sum(1)
neg = ((x >= 26) & (x <= 50)).sum(1)
keep = pos != neg
x, y = x[keep], (pos > neg)[keep].astype("float32")
xtr, ytr, xte, yte = x[:3000], y[:3000], x[3000:], y[3000:]

if variant == "buggy":
    emb = layers.Embedding(VOCAB, 8, name="embedding", trainable=False)  # the bug
else:
    emb = layers.Embedding(VOCAB, 8, name="embedding")  # the bug
model = keras.Sequential([
    keras.Input(shape=(LEN,), dtype="int32"),
    emb,
    layers.GlobalAveragePooling1D(),
    layers.Dense(16, activation="relu", name="dense"),
    layers.Dense(1, activation="sigmoid", name="out"),
])
model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="binary_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=64, epochs=8, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f} (positive rate {yte.mean():.2f})")
