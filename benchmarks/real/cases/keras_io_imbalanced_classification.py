"""keras-io `examples/structured_data/imbalanced_classification.py` (Imbalanced classification: credit card
fraud detection, fchollet): the last 20% of the rows for validation, features standardized with training
statistics, an MLP Dense(256, relu) x2 / Dropout(0.3) / Dense(256, relu) / Dropout(0.3) / Dense(1, sigmoid),
binary cross-entropy with Adam(1e-2), batch 2048, 30 epochs, ``class_weight`` = 1 / class count.

Ported (re-written to the same split, normalization, model, loss, optimizer, batch size, epochs and
``model.fit`` call with ``class_weight``): the Kaggle creditcard.csv becomes the local stand-in
``_data.creditcard_fraud`` (Time, V1..V28, Amount; 20,000 rows with 1% frauds instead of 284,807 with
0.17%); the per-epoch ModelCheckpoint callback is gone. The outcome is the balanced accuracy (mean of the
recall on frauds and on legitimate transactions) on the validation rows, whose chance level is 0.5.
"""

import _data
import _harness
import keras
import numpy as np

_harness.seed_everything()

features, targets = _data.creditcard_fraud(seed=_harness.seed())
print("features.shape:", features.shape)
print("targets.shape:", targets.shape)

num_val_samples = int(len(features) * 0.2)
train_features = features[:-num_val_samples]
train_targets = targets[:-num_val_samples]
val_features = features[-num_val_samples:]
val_targets = targets[-num_val_samples:]

counts = np.bincount(train_targets[:, 0])
print(f"Number of positive samples in training data: {counts[1]} "
      f"({100 * float(counts[1]) / len(train_targets):.2f}% of total)")
weight_for_0 = 1.0 / counts[0]
weight_for_1 = 1.0 / counts[1]

mean = np.mean(train_features, axis=0)
train_features -= mean
val_features -= mean
std = np.std(train_features, axis=0)
train_features /= std
val_features /= std

model = keras.Sequential(
    [
        keras.Input(shape=train_features.shape[1:]),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)

metrics = [
    keras.metrics.FalseNegatives(name="fn"),
    keras.metrics.FalsePositives(name="fp"),
    keras.metrics.TrueNegatives(name="tn"),
    keras.metrics.TruePositives(name="tp"),
    keras.metrics.Precision(name="precision"),
    keras.metrics.Recall(name="recall"),
]
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=metrics)

class_weight = {0: weight_for_0, 1: weight_for_1}
history = model.fit(
    train_features,
    train_targets,
    batch_size=2048,
    epochs=30,
    verbose=2,
    validation_data=(val_features, val_targets),
    class_weight=class_weight,
)

predicted = model.predict(val_features, verbose=0)[:, 0] > 0.5
actual = val_targets[:, 0] == 1
recall_fraud = float(np.mean(predicted[actual]))
recall_legit = float(np.mean(~predicted[~actual]))
print(f"frauds caught {int(predicted[actual].sum())} / {int(actual.sum())}, "
      f"legitimate flagged {int(predicted[~actual].sum())} / {int((~actual).sum())}")
_harness.report(metric=(recall_fraud + recall_legit) / 2, metric_name="balanced accuracy", chance=0.5,
                losses=history.history["loss"], recall_fraud=recall_fraud, recall_legit=recall_legit)
