import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
from keras import ops

rng = np.random.default_rng(0)
keras.utils.set_random_seed(0)
x = rng.uniform(-3, 3, (3000, 1)).astype("float32")
y = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype("float32")


def quantile_loss(yt, yp):  # pinball loss at the 0.9 quantile
    e = yt - yp
    return ops.mean(ops.maximum(0.9 * e, -0.1 * e), axis=-1)


model = keras.Sequential(
    [
        keras.Input((1,)),
        keras.layers.Dense(64, activation="tanh"),
        keras.layers.Dense(64, activation="tanh"),
        keras.layers.Dense(1),
    ]
)
model.compile(keras.optimizers.Adam(3e-3), loss=quantile_loss)
model.fit(x, y, epochs=15, batch_size=64, verbose=0)
p = model.predict(x, verbose=0)
print("share below q90", float((y < p).mean()))
