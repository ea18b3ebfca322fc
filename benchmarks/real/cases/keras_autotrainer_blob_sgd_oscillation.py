"""AUTOTRAINER demo `Oscillating_Loss_Case`: per-sample SGD with momentum on scikit-learn's three blobs.

The original demo loads a saved Keras model (``model.h5``: ``Dense(50, relu, he_uniform)`` and a
``Dense(3, softmax)`` output) and a training configuration (``config.pkl``: SGD lr=0.01 with momentum 0.9,
categorical cross-entropy, batch size 1, 200 epochs, the ``simplednn_blob`` data set). AUTOTRAINER detects an
unstable (oscillating) training loss and repairs it with its first 'unstable' solution, ``adam``: the Adam
optimizer with default settings (its log: "Solved", validation accuracy 0.76 -> 0.83).

Ported: the model and configuration are written out as code (same layers, initializers, loss, optimizer,
batch size, ``model.fit`` loop); the data are generated exactly as AUTOTRAINER's ``data/simplednn.py`` does
(``make_blobs(1000, centers=3, n_features=2, cluster_std=2, random_state=2)``, one-hot labels, x100 then /100,
first 700 for training); 10 epochs instead of 200; the per-batch losses are recorded with a
``LambdaCallback``.
"""

import _harness
import keras
import numpy as np
from keras import layers
from sklearn.datasets import make_blobs

_harness.seed_everything()

# AUTOTRAINER's simplednn 'blob' data set and its preprocessing (x * 100, then / 100)
X, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
X = X * 100
Y = keras.utils.to_categorical(y)
x_train, x_val = X[:700] / 100, X[700:] / 100
y_train, y_val = Y[:700], Y[700:]

model = keras.Sequential([
    keras.Input(shape=(2,)),
    layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
    layers.Dense(3, activation="softmax"),
])
if _harness.buggy():
    optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)  # the bug: oscillates at batch size 1
else:
    optimizer = keras.optimizers.Adam()  # AUTOTRAINER's 'adam' repair (default settings)
model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
losses = []
record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]))
model.fit(x_train, y_train, batch_size=1, epochs=10, verbose=0, callbacks=[record])

pred = model.predict(x_val, verbose=0)
accuracy = float(np.mean(pred.argmax(axis=1) == y_val.argmax(axis=1)))
_harness.report(metric=accuracy, metric_name="accuracy", chance=1 / 3, losses=losses)
