import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from digits import digits
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]

# shuffle the training set before fitting
rng = np.random.default_rng(1)
if variant == "buggy":
    xtr = xtr[rng.permutation(len(xtr))]  # the bug
    ytr = ytr[rng.permutation(len(ytr))]  # the bug
else:
    p = rng.permutation(len(xtr))  # the bug
    xtr, ytr = xtr[p], ytr[p]  # the bug

model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(64, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=8, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
