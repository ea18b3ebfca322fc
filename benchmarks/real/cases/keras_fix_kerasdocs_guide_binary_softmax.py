"""keras-team/keras `docs/templates/getting-started/sequential-model-guide.md` (the official "Getting started
with the Keras Sequential model" guide), its Training example "for a single-input model with 2 classes
(binary)": ``Sequential([Dense(1, input_dim=784, activation=...)])`` compiled with ``optimizer='rmsprop'``,
``loss='binary_crossentropy'``, ``metrics=['accuracy']`` and fitted on 1,000 samples of 784 features for 10
epochs in batches of 32.

The bug (fixed by commit f502ee2, PR #3257 "Update sequential-model-guide.md"): the one-unit output layer uses
``activation='softmax'``; the softmax of a single value is always 1, so every sample is predicted positive,
the loss cannot move (its gradient through the softmax is zero) and the accuracy is the share of positives.
The fix uses ``activation='sigmoid'``.

Ported to Keras 3 with the same layer, loss, metric, batch size and epochs; 'rmsprop' becomes
``RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-8)``, the Keras 1 defaults; ``input_dim=784`` becomes
``keras.Input((784,))`` and ``nb_epoch`` ``epochs``. The guide's dummy data (uniform random features with random
labels, which nothing can learn) become 1,000 flattened images of zeros and ones from the local MNIST stand-in
``_data.mnist_load_data`` (784 features in [0, 1], like ``np.random.random((1000, 784))``), labelled by their
digit; the zeros and ones among 3,000 held-out images measure the accuracy.
"""

import _data
import _harness
import keras
from keras.layers import Dense
from keras.models import Sequential
from keras.optimizers import RMSprop

_harness.seed_everything()

# for a single-input model with 2 classes (binary):

model = Sequential()
model.add(keras.Input(shape=(784,)))
model.add(Dense(1, activation="softmax" if _harness.buggy() else "sigmoid"))  # the bug: softmax on one unit
model.compile(optimizer=RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-8),
              loss="binary_crossentropy",
              metrics=["accuracy"])

# the data: 1,000 samples of 784 features in [0, 1] and binary labels
(images, digits), (test_images, test_digits) = _data.mnist_load_data(seed=_harness.seed(), n_train=6000,
                                                                      n_test=3000)
keep = (digits <= 1).nonzero()[0][:1000]  # zeros and ones
data = images[keep].reshape(1000, 784).astype("float32") / 255
labels = digits[keep].astype("float32").reshape(1000, 1)
keep = (test_digits <= 1).nonzero()[0]
test_data = test_images[keep].reshape(len(keep), 784).astype("float32") / 255
test_labels = test_digits[keep].astype("float32").reshape(len(keep), 1)


# train the model, iterating on the data in batches of 32 samples
log = _harness.keras_loss_log()
model.fit(data, labels, epochs=10, batch_size=32, verbose=2, callbacks=[log])

test_loss, test_accuracy = model.evaluate(test_data, test_labels, verbose=0)
majority = float(max(test_labels.mean(), 1 - test_labels.mean()))
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=majority, losses=log.losses)
