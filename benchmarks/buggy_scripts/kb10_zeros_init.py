import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from digits import digits
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]

inp = keras.Input(shape=(64,))
if variant == "buggy":
    h = layers.Dense(64, activation="relu", kernel_initializer="zeros", name="fc1")(inp)  # the bug
else:
    h = layers.Dense(64, activation="relu", kernel_initializer="he_normal", name="fc1")(inp)  # the bug
h = layers.Dense(32, activation="relu", name="fc2")(h)
out = layers.Dense(10, activation="softmax", name="head")(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=8, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
