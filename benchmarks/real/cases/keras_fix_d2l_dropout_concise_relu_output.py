"""d2l-ai/d2l-en `chapter_multilayer-perceptrons/dropout.md` (concise implementation, TensorFlow tab) before
commit 1ab988a ("[TF] Fix accuracy issues in a couple of notebooks").

An MLP on Fashion-MNIST: Flatten, Dense(256, relu), Dropout(0.2), Dense(256, relu), Dropout(0.5) and an
output Dense(10), compiled with Keras SGD(lr 0.5) and ``SparseCategoricalCrossentropy()`` (which expects
probabilities), trained with ``net.fit`` on batches of 256 for 10 epochs. The bug: the output layer is
``Dense(10, activation=tf.nn.relu)``, so the loss reads rectified scores as class probabilities (Keras
rescales them to sum to one and clips them before the log); classes whose unit is at zero get no
gradient. The fix (commit 1ab988a) makes it ``Dense(10, activation=tf.nn.softmax)``.

Ported (re-written with the same model, loss, optimizer, learning rate, batch size, epochs and ``fit``
call): the Fashion-MNIST download becomes the local stand-in (15,000 / 1,000 images). Measure: the test
accuracy from ``evaluate``.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

(x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=_harness.seed(), n_train=15000)
x_train, x_test = (x_train[..., None] / 255.0).astype(np.float32), (x_test[..., None] / 255.0).astype(np.float32)
y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)

num_epochs, lr, batch_size = 10, 0.5, 256
dropout1, dropout2 = 0.2, 0.5

net = keras.models.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Flatten(),
    layers.Dense(256, activation="relu"),
    # Add a dropout layer after the first fully connected layer
    layers.Dropout(dropout1),
    layers.Dense(256, activation="relu"),
    # Add a dropout layer after the second fully connected layer
    layers.Dropout(dropout2),
    layers.Dense(10, activation="relu" if _harness.buggy() else "softmax"),  # the bug: relu output
])

trainer = keras.optimizers.SGD(learning_rate=lr)
net.compile(optimizer=trainer, loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
log = _harness.keras_loss_log()
net.fit(x_train, y_train, epochs=num_epochs, batch_size=batch_size, verbose=2, callbacks=[log])

test_loss, test_acc = net.evaluate(x_test, y_test, verbose=0)
_harness.report(metric=test_acc, metric_name="accuracy", chance=0.1, losses=log.losses)
