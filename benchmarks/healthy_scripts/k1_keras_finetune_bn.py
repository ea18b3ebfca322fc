import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

rng = np.random.default_rng(0)
n = 2000
y = rng.integers(0, 3, n)
x = rng.normal(size=(n, 16, 16, 3)).astype("float32") * 0.5
for c in range(3):
    x[y == c, :, :, c] += 1.0
base = keras.Sequential(
    [
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(16, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.GlobalAveragePooling2D(),
    ]
)
base.trainable = False
inp = keras.Input((16, 16, 3))
h = base(inp, training=False)
h = keras.layers.Dropout(0.2)(h)
out = keras.layers.Dense(3)(h)
model = keras.Model(inp, out)
model.compile(
    keras.optimizers.Adam(),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.fit(x, y, epochs=3, batch_size=32, verbose=0)
base.trainable = True
model.compile(
    keras.optimizers.Adam(1e-5),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.fit(x, y, epochs=2, batch_size=32, verbose=0)
print(model.evaluate(x, y, verbose=0))
