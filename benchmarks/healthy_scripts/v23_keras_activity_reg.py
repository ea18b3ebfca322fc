import hashlib

import keras
import numpy as np
import torch
from digits import digits
from keras import ops

keras.utils.set_random_seed(0)
np.random.seed(0)
torch.manual_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]


class SparsityLayer(keras.layers.Layer):
    """Identity layer adding an L1 penalty on its input activations via add_loss."""

    def __init__(self, rate=1e-4, **kw):
        super().__init__(**kw)
        self.rate = rate

    def call(self, x):
        self.add_loss(self.rate * ops.mean(ops.abs(x)))
        return x


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.d1 = keras.layers.Dense(
            64,
            activation="relu",
            kernel_regularizer=keras.regularizers.l2(1e-4),
            activity_regularizer=keras.regularizers.l1(1e-5),
        )
        self.sp = SparsityLayer(1e-3)
        self.d2 = keras.layers.Dense(32, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))
        self.drop = keras.layers.Dropout(0.1)
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, x, training=False):
        x = self.sp(self.d1(x))
        x = self.drop(self.d2(x), training=training)
        return self.out(x)


model = Net()
model.compile(
    optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
h = model.fit(xtr, ytr, epochs=12, batch_size=32, validation_data=(xte, yte), verbose=0)
print("val_acc per epoch", [round(v, 3) for v in h.history["val_accuracy"]])
loss, a = model.evaluate(xte, yte, verbose=0)
print(f"final acc {a:.4f} loss {loss:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
