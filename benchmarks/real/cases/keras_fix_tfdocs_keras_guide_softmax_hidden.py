"""tensorflow/docs `site/en/guide/keras.ipynb` (the TF 2.0 "Keras overview" guide), section "Save and restore
> Entire model": a "trivial model" ``Sequential([Dense(10, activation=..., input_shape=(32,)),
Dense(10, activation='softmax')])`` compiled with ``optimizer='rmsprop'``, ``loss='categorical_crossentropy'``,
``metrics=['accuracy']`` and fitted with ``model.fit(data, labels, batch_size=32, epochs=5)`` on 1,000 samples
of 32 features and one-hot labels of 10 classes.

The bug (fixed by commit dfefbd4, "Fix Copy & Paste bug: looks wired to use softmax activation other than
output layer"): the hidden layer is ``Dense(10, activation='softmax')``, so the whole input is squeezed through
a 10-value probability vector whose softmax saturates and passes little gradient: the network learns slowly and
poorly. The fix makes it ``Dense(64, activation='relu')``.

Ported to Keras 3 with the same layers, compile call, batch size and epochs; ``input_shape=(32,)`` becomes
``keras.Input((32,))``. The guide's dummy data (``np.random.random((1000, 32))`` with random one-hot labels,
which nothing can learn) become scikit-learn's bundled 8x8 digits, each pair of neighbouring pixel columns
averaged into 32 features in [0, 1] (the same shape and range), with their one-hot digit labels: 1,000 for
training and the other 797 held out to measure the accuracy. Saving and reloading the model (the point of the
guide's section) go.
"""

import _harness
import keras
import numpy as np
from keras import layers
from sklearn.datasets import load_digits

_harness.seed_everything()

digits = load_digits()
rng = np.random.default_rng(_harness.seed())
order = rng.permutation(len(digits.target))
features = (digits.images / 16.0).reshape(-1, 8, 4, 2).mean(axis=-1).reshape(-1, 32)  # 32 values in [0, 1]
one_hot = keras.utils.to_categorical(digits.target, 10)
data, labels = features[order[:1000]], one_hot[order[:1000]]
test_data, test_labels = features[order[1000:]], one_hot[order[1000:]]

# Create a trivial model
if _harness.buggy():
    hidden = layers.Dense(10, activation="softmax")  # the bug: a softmax hidden layer
else:
    hidden = layers.Dense(64, activation="relu")
model = keras.Sequential([
    keras.Input(shape=(32,)),
    hidden,
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="rmsprop",
              loss="categorical_crossentropy",
              metrics=["accuracy"])


log = _harness.keras_loss_log()
model.fit(data, labels, batch_size=32, epochs=5, verbose=2, callbacks=[log])

test_loss, test_accuracy = model.evaluate(test_data, test_labels, verbose=0)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.1, losses=log.losses)
