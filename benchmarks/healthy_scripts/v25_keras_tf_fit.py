import hashlib

import keras
import numpy as np
import tensorflow as tf
from digits import digits

keras.utils.set_random_seed(0)
np.random.seed(0)
tf.random.set_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]
xtr = xtr.reshape(-1, 8, 8, 1)
xte = xte.reshape(-1, 8, 8, 1)
inp = keras.Input((8, 8, 1))
x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
x = keras.layers.BatchNormalization()(x)
x = keras.layers.Activation("relu")(x)
x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
x = keras.layers.BatchNormalization()(x)
x = keras.layers.Activation("relu")(x)
x = keras.layers.MaxPooling2D()(x)
x = keras.layers.Flatten()(x)
x = keras.layers.Dropout(0.3)(x)
x = keras.layers.Dense(64, activation="relu")(x)
x = keras.layers.Dropout(0.3)(x)
out = keras.layers.Dense(10, activation="softmax")(x)
model = keras.Model(inp, out)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
rlr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5)
h = model.fit(xtr, ytr, epochs=15, batch_size=32, validation_split=0.2, callbacks=[rlr], verbose=0)
print("val_acc", [round(v, 3) for v in h.history["val_accuracy"]])
print("lr", [round(float(v), 6) for v in h.history["learning_rate"]])
loss, a = model.evaluate(xte, yte, verbose=0)
print(f"final acc {a:.4f} loss {loss:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
