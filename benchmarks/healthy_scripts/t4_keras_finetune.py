import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

rng = np.random.default_rng(0)
x = rng.normal(size=(3000, 20)).astype("float32")
y = (x[:, :3].sum(1) > 0).astype("int32")
base = keras.Sequential(
    [keras.Input((20,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(64, activation="relu")]
)
head = keras.layers.Dense(2, activation="softmax")
model = keras.Sequential([base, head])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=2, batch_size=64, verbose=0)
base.trainable = False
model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(
    x,
    y,
    epochs=2,
    batch_size=64,
    verbose=0,
    validation_split=0.2,
    callbacks=[keras.callbacks.EarlyStopping(patience=1), keras.callbacks.ReduceLROnPlateau(patience=1)],
)
print(model.evaluate(x, y, verbose=0))
