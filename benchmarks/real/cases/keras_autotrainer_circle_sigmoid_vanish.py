"""AUTOTRAINER demo `Gradient_Vanish_Case`: a 9-layer sigmoid MLP on scikit-learn's two circles.

The original demo loads a saved Keras model (``model.h5``: eight ``Dense(5, sigmoid)`` layers and a
``Dense(1, sigmoid)`` output, all ``he_uniform``) and a training configuration (``config.pkl``: Adam lr=1e-3,
binary cross-entropy, batch 128, 300 epochs, the ``simplednn_circle`` data set). AUTOTRAINER detects
vanishing gradients and repairs the model with its ``selu`` solution: SELU activations in every hidden
layer with ``lecun_uniform`` kernels (its log: "Solved", validation accuracy 0.50 -> 0.85).

Ported: the model and configuration are written out as code (same layers, initializers, loss, optimizer,
batch size, ``model.fit`` loop); the data are generated exactly as AUTOTRAINER's ``data/simplednn.py`` does
(``make_circles(1000, noise=0.1, random_state=1)``, x100 then /100, first 700 for training); 200 epochs instead of 300, no per-epoch validation pass.
"""

import _harness
import keras
import numpy as np
from keras import layers
from sklearn.datasets import make_circles

_harness.seed_everything()

# AUTOTRAINER's simplednn 'circle' data set and its preprocessing (x * 100, then / 100)
X, y = make_circles(n_samples=1000, noise=0.1, random_state=1)
X = X * 100
x_train, x_val = X[:700] / 100, X[700:] / 100
y_train, y_val = y[:700].astype("float32"), y[700:].astype("float32")

if _harness.buggy():
    hidden_act, hidden_init = "sigmoid", "he_uniform"  # the bug: saturating sigmoid in 8 stacked layers
else:
    hidden_act, hidden_init = "selu", "lecun_uniform"  # AUTOTRAINER's 'selu' repair

inputs = keras.Input(shape=(2,))
h = inputs
for _ in range(8):
    h = layers.Dense(5, activation=hidden_act, kernel_initializer=hidden_init, bias_initializer="zeros")(h)
outputs = layers.Dense(1, activation="sigmoid", kernel_initializer="he_uniform", bias_initializer="zeros")(h)
model = keras.Model(inputs, outputs)

model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="binary_crossentropy",
              metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=128, epochs=200, verbose=0)

pred = model.predict(x_val, verbose=0).reshape(-1)
accuracy = float(np.mean((pred > 0.5) == (y_val > 0.5)))
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.5, losses=history.history["loss"])
