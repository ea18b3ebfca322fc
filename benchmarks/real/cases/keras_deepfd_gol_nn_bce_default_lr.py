"""DeepFD benchmark program 48 (alexander-travov/gol_nn `gol.py`): a CNN that learns Conway's Game of Life.

A 3x3 'valid' convolution (10 filters, relu) over the wrap-padded field, a 1x1 convolution (20 channels,
relu) and a 1x1 convolution with one sigmoid output predict each cell's next state; random fields (each
cell alive with probability 0.5) and their next states are generated in the script; Keras ``fit`` with
batch 64 and a validation set, then the per-cell accuracy is evaluated on fresh fields for alive
probabilities 0.1..0.9. The bug: the default ``loss='binary_crossentropy'`` with ``optimizer='adam'``
(learning rate 0.001); the author's fix (commits d9b30a0 and 49bea76) sets ``loss='mse'`` and
``Adam(learning_rate=0.01)``.

Ported (re-written to the same model, loss, optimizer and fit loop): 20x30 fields as in the README,
4,000 / 1,000 instead of 15,000 / 3,000 of them; the reported accuracy is the per-cell accuracy on held-out fields with alive probability 0.5.
"""

import _harness
import keras
import numpy as np

_harness.seed_everything()
rng = np.random.default_rng(_harness.seed())


def generate_field(shape, alive_prob=0.5):
    return (rng.random(shape) < alive_prob).astype(np.int32)


def update_field(field, hw_axis=(1, 2)):
    """The next state of every cell: born with 3 live neighbours, survives with 2 or 3 (cyclic field)."""
    h_ax, w_ax = hw_axis
    neighbours = np.zeros(field.shape, dtype=np.int32)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                neighbours += np.roll(np.roll(field, dx, w_ax), dy, h_ax)
    return np.logical_or(neighbours == 3, np.logical_and(field, neighbours == 2)).astype(np.int32)


def pad_field(field):
    """Wrap-pad H and W by one cell (the field is a torus)."""
    return np.pad(field, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")


def generate_dataset(num_samples, height, width, alive_prob=0.5):
    x = generate_field((num_samples, height, width, 1), alive_prob)
    return x, update_field(x)


def life_nn(height, width, num_filters=10, num_channels=20, loss="binary_crossentropy", optimizer="adam"):
    model = keras.Sequential([
        keras.Input(shape=(height + 2, width + 2, 1)),
        keras.layers.Conv2D(num_filters, kernel_size=(3, 3), strides=(1, 1), padding="valid", use_bias=True,
                            activation="relu"),
        keras.layers.Conv2D(num_channels, kernel_size=(1, 1), strides=(1, 1), padding="same", use_bias=True,
                            activation="relu"),
        keras.layers.Conv2D(1, kernel_size=(1, 1), strides=(1, 1), padding="same", use_bias=True,
                            activation="sigmoid"),
    ])
    model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"])
    return model


HEIGHT, WIDTH = 20, 30
log = _harness.keras_loss_log()

if _harness.buggy():
    loss, optimizer = "binary_crossentropy", "adam"  # the bug
else:
    loss, optimizer = "mse", keras.optimizers.Adam(learning_rate=0.01)
model = life_nn(HEIGHT, WIDTH, loss=loss, optimizer=optimizer)

X_train, y_train = generate_dataset(4000, HEIGHT, WIDTH)
X_val, y_val = generate_dataset(1000, HEIGHT, WIDTH)
model.fit(pad_field(X_train), y_train, batch_size=64, epochs=5, validation_data=(pad_field(X_val), y_val),
          callbacks=[log], verbose=2)

for alive_prob in np.linspace(0.1, 0.9, 9):
    X_grid, y_grid = generate_dataset(200, HEIGHT, WIDTH, alive_prob)
    loss, acc = model.evaluate(pad_field(X_grid), y_grid, batch_size=64, verbose=0)
    print(f"P_alive={alive_prob:.1f} Loss:{loss:.2f} Acc:{acc:.2f}")

X_test, y_test = generate_dataset(1000, HEIGHT, WIDTH, 0.5)
_, accuracy = model.evaluate(pad_field(X_test), y_test, batch_size=64, verbose=0)
# every cell predicted dead is right 1 - 70/256 of the time at alive probability 0.5
_harness.report(metric=accuracy, metric_name="accuracy", chance=1 - 70 / 256, losses=log.losses)
