import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from digits import digits
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]

model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(64, activation="relu"),
    layers.Dense(10),  # logits
])
if variant == "buggy":
    loss = keras.losses.SparseCategoricalCrossentropy()  # the bug
else:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # the bug
model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=10, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
