"""defects4ML bug 038 (NikhilM98/learning-deeplearning `super_basic_1.py`): Adam with lr=100 on a tiny MLP.

A beginner's Keras program (after the deeplizard Keras course): ages 13..100 are min-max scaled to [0, 1]
and a Sequential of Dense(16, relu) -> Dense(32, relu) -> Dense(2, softmax) learns whether a patient had
side effects (mostly the older ones, with 5% of each group flipped), with sparse categorical
cross-entropy, batch size 10, 20 epochs and shuffling. The bug: ``Adam(lr=100)``; the fix (commit eb24906)
sets ``lr=0.0001``.

Ported (re-written to the same model, loss, optimizer and fit loop): the samples are drawn from the same
rule with a seeded numpy generator instead of ``random.randint``; a held-out set drawn from the same rule
gives the reported accuracy.
"""

import _harness
import keras
import numpy as np
from keras.layers import Dense
from keras.models import Sequential
from keras.optimizers import Adam
from sklearn.preprocessing import MinMaxScaler

_harness.seed_everything()
rng = np.random.default_rng(_harness.seed())


def side_effect_trial(n_main, n_outliers):
    """Ages of the younger (13..64) and older (65..100) patients; most older ones had side effects."""
    samples, labels = [], []
    for _ in range(n_main):
        samples += [rng.integers(13, 65), rng.integers(65, 101)]
        labels += [0, 1]
    for _ in range(n_outliers):
        samples += [rng.integers(13, 65), rng.integers(65, 101)]
        labels += [1, 0]
    return np.array(samples), np.array(labels)


train_samples, train_labels = side_effect_trial(500, 25)
test_samples, test_labels = side_effect_trial(200, 10)

scaler = MinMaxScaler(feature_range=(0, 1))
scaled_train_samples = scaler.fit_transform(train_samples.reshape(-1, 1))
scaled_test_samples = scaler.transform(test_samples.reshape(-1, 1))

model = Sequential([
    keras.Input(shape=(1,)),
    Dense(16, activation="relu"),
    Dense(32, activation="relu"),
    Dense(2, activation="softmax"),
])

learning_rate = 100.0 if _harness.buggy() else 0.0001  # the bug
model.compile(Adam(learning_rate=learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

history = model.fit(scaled_train_samples, train_labels, batch_size=10, epochs=20, shuffle=True, verbose=2)

_, accuracy = model.evaluate(scaled_test_samples, test_labels, verbose=0)
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.5, losses=history.history["loss"])
