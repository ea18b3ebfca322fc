import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from digits import digits
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]

if variant == "buggy":
    init = keras.initializers.RandomNormal(stddev=0.01)  # the bug
else:
    init = "glorot_uniform"  # the bug
model = keras.Sequential([keras.Input(shape=(64,))])
for i in range(8):
    model.add(layers.Dense(64, activation="tanh", kernel_initializer=init, name=f"hidden{i}"))
model.add(layers.Dense(10, activation="softmax", name="out"))
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=32, epochs=8, verbose=0)
loss_v, acc_v = model.evaluate(xte, yte, verbose=0)
print(f"test loss={loss_v:.3f} accuracy={acc_v:.3f}")
