import hashlib
import math

import keras
import numpy as np
import torch
from digits import digits

keras.utils.set_random_seed(0)
np.random.seed(0)
torch.manual_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]


class DigitsSeq(keras.utils.PyDataset):
    def __init__(self, x, y, bs=32, **kw):
        super().__init__(**kw)
        self.x, self.y, self.bs = x, y, bs
        self.rng = np.random.default_rng(0)
        self.idx = self.rng.permutation(len(x))
        # up-weight the classes that are harder (8, 9) a bit
        self.cw = np.ones(10, dtype="float32")
        self.cw[[8, 9]] = 1.5

    def __len__(self):
        return math.ceil(len(self.x) / self.bs)

    def __getitem__(self, i):
        b = self.idx[i * self.bs : (i + 1) * self.bs]
        y = self.y[b]
        return self.x[b], y, self.cw[y]

    def on_epoch_end(self):
        self.idx = self.rng.permutation(len(self.x))


def schedule(epoch, lr):
    return 3e-3 if epoch < 4 else lr * 0.8


model = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
seq = DigitsSeq(xtr, ytr)
h = model.fit(
    seq, epochs=10, steps_per_epoch=40, callbacks=[keras.callbacks.LearningRateScheduler(schedule)], verbose=0
)
print("lr", [round(float(v), 5) for v in h.history["learning_rate"]])
print("loss", [round(v, 3) for v in h.history["loss"]])
loss, a = model.evaluate(xte, yte, verbose=0)
print(f"final acc {a:.4f} loss {loss:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
