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
    layers.Dense(128, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
if variant == "buggy":
    opt = keras.optimizers.SGD(learning_rate=5.0, momentum=0.9)  # the bug
else:
    opt = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)  # the bug
model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=6, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
