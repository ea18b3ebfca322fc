import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from digits import digits
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]

rate = 0.95 if variant == "buggy" else 0.2  # the bug
inp = keras.Input(shape=(64,))
h = layers.Dense(32, activation="relu", name="fc1")(inp)
h = layers.Dropout(rate, name="drop1")(h)
h = layers.Dense(32, activation="relu", name="fc2")(h)
h = layers.Dropout(rate, name="drop2")(h)
out = layers.Dense(10, activation="softmax", name="head")(h)
model = keras.Model(inp, out)
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=8, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
