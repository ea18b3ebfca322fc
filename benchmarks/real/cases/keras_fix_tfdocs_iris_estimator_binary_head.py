"""tensorflow/docs `site/en/tutorials/estimator/keras_model_to_estimator.ipynb` ("Create an Estimator from a
Keras model"): a Sequential model (Dense(16, relu, input_shape=(4,)), Dropout(0.2), output Dense) compiled
with Adam, converted with ``tf.keras.estimator.model_to_estimator`` and trained on the Iris data set
(``tfds.load('iris')``, ``batch(32).repeat()``) with ``keras_estimator.train(input_fn, steps=...)``.

The bug (fixed by commit e6c7e22, "Fix broken notebooks"): the three-class Iris problem is set up as a binary
one, a one-unit output layer ``Dense(1)`` trained with ``BinaryCrossentropy(from_logits=True)`` on the labels
0, 1, 2. The fix gives the output layer three units and uses ``SparseCategoricalCrossentropy(from_logits=True)``
(and trains 500 steps instead of 25).

Ported to Keras 3: the same layers, loss, 'adam' and batches of 32 repeated in a fixed order; the Estimator
wrapper (not in Keras 3) becomes ``model.fit`` on the same repeating batch stream for the same number of steps,
which is what ``estimator.train(input_fn, steps)`` ran. ``tfds.load('iris')`` becomes scikit-learn's bundled
Iris (the same 150 flowers, 4 float features, labels 0-2), put in a fixed shuffled order as TFDS stores it,
with 30 flowers held out to measure accuracy (argmax of the output; the notebook only printed the loss). Both
variants train 500 steps (the fixed notebook's count).
"""

import _harness
import keras
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

_harness.seed_everything()

iris = load_iris()
features, labels = iris.data.astype("float32"), iris.target.astype("int64")
x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=30, stratify=labels,
                                                    random_state=_harness.seed())

n_classes = 1 if _harness.buggy() else 3  # the bug: a one-unit (binary) head for three classes
model = keras.models.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(n_classes),
])

if _harness.buggy():
    loss = keras.losses.BinaryCrossentropy(from_logits=True)  # the bug: a binary loss on labels 0, 1, 2
else:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(loss=loss, optimizer="adam")
model.summary()


def input_fn():
    """Batches of 32 in the stored order, repeated (the last batch of each pass is short)."""
    while True:
        for start in range(0, len(x_train), 32):
            yield x_train[start:start + 32], y_train[start:start + 32]


log = _harness.keras_loss_log()
model.fit(input_fn(), steps_per_epoch=500, epochs=1, verbose=2, callbacks=[log])
eval_loss = model.evaluate(x_train, y_train, verbose=0)
print("Eval result: {}".format({"loss": eval_loss}))

predictions = np.argmax(model.predict(x_test, verbose=0), axis=-1)
accuracy = float(np.mean(predictions == y_test))
_harness.report(metric=accuracy, metric_name="accuracy", chance=1 / 3, losses=log.losses)
