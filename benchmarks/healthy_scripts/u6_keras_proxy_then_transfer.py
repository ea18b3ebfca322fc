import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from sklearn.datasets import load_digits

d = load_digits()
x = (d.data / 16.0).astype("float32")
y = d.target
keras.utils.set_random_seed(0)
base = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
    ]
)
# "pretrain" the base on a proxy task
proxy = keras.Sequential([base, keras.layers.Dense(10, activation="softmax")])
proxy.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
proxy.fit(x[:800], y[:800], epochs=3, batch_size=32, verbose=0)
base.trainable = False
model = keras.Sequential([base, keras.layers.Dropout(0.2), keras.layers.Dense(10, activation="softmax")])
model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[:1400], y[:1400], epochs=4, batch_size=32, verbose=0, validation_split=0.1)
base.trainable = True
model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(
    x[:1400],
    y[:1400],
    epochs=4,
    batch_size=32,
    verbose=0,
    callbacks=[
        keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True, monitor="loss"),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1),
    ],
)
print("acc", model.evaluate(x[1400:], y[1400:], verbose=0)[1])
