"""AUTOTRAINER demo `Improper_Activation_case`: a ReLU output layer under categorical cross-entropy on blobs.

The original demo builds a Sequential MLP (four ``Dense(50, relu, he_uniform)`` layers and a ``Dense(3, relu)``
output), saves it with its training configuration (``config_acti.pkl``: Adam lr=1e-4, categorical
cross-entropy, batch 256, 300 epochs, the ``simplednn_blob`` data set) and trains it under AUTOTRAINER's
monitor. The monitor flags the output activation (a categorical loss on a non-softmax output) and its
``op_activation`` repair replaces the last layer's activation with softmax.

Ported: the model and configuration are written out as code (same layers, initializers, loss, optimizer,
batch size, ``model.fit`` loop); the data are generated exactly as AUTOTRAINER's ``data/simplednn.py`` does
(``make_blobs(1000, centers=3, n_features=2, cluster_std=2, random_state=2)``, one-hot labels, x100 then
/100, first 700 for training); all 300 epochs (a run takes about 13 s).
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

output_activation = "relu" if _harness.buggy() else "softmax"  # the bug
model = keras.Sequential([
    keras.Input(shape=(2,)),
    layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
    layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
    layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
    layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
    layers.Dense(3, activation=output_activation),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0001), loss="categorical_crossentropy",
              metrics=["accuracy"])
log = _harness.keras_loss_log()
model.fit(x_train, y_train, batch_size=256, epochs=300, verbose=0, callbacks=[log])

pred = model.predict(x_val, verbose=0)
accuracy = float(np.mean(pred.argmax(axis=1) == y_val.argmax(axis=1)))
_harness.report(metric=accuracy, metric_name="accuracy", chance=1 / 3, losses=log.losses)
