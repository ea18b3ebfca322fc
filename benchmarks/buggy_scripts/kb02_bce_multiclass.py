import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from digits import digits
from keras import layers

variant = sys.argv[1]
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]
ytr_oh = keras.utils.to_categorical(ytr, 10)
yte_oh = keras.utils.to_categorical(yte, 10)

model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
if variant == "buggy":
    loss = "binary_crossentropy"  # the bug
else:
    loss = "categorical_crossentropy"  # the bug
model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss, metrics=["accuracy"])
model.fit(xtr, ytr_oh, batch_size=32, epochs=10, verbose=0)
pred = model.predict(xte, verbose=0).argmax(-1)
print(f"test accuracy (argmax) = {(pred == yte).mean():.3f}")
