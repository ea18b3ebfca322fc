"""DeepFD fault-seeded mutant `epoch_9` of AUTOTRAINER's MNIST model `config_random_1ed98a53` (LeNet-5).

The original is a saved Keras model plus a training configuration, both from the redistribution of
AUTOTRAINER's MNIST models with DeepFD's seeded mutants in ZhuTiangang/DeepFD-cov (``Evaluation/MNIST``). The
model (``model.h5``): Conv2D 6@5x5 relu, max-pool, Conv2D 16@5x5 relu, max-pool, flatten, Dense 120 relu,
Dense 84 relu, Dense 10 linear and a separate softmax ``Activation``; every kernel ``he_normal`` with an
L1L2(l1=0, l2=1e-4) regularizer. The healthy configuration (``origin/config.pkl``): Adadelta lr=0.1,
rho=0.9809, categorical cross-entropy, batch 256, 90 epochs. The mutant cuts training to 9 epochs, a tenth of
the 90 (DeepFD's ``modify_epoch``). The fix is the healthy configuration.

Ported: model and configuration written out as code (same layers, initializers, regularizers, loss, optimizer,
batch size, ``model.fit`` loop with the test set as validation data); ``keras.datasets.mnist`` becomes the
local stand-in ``_data.mnist_load_data`` (6,000 / 1,000 images, scaled to [0, 1] as AUTOTRAINER's
``data/mnist.py`` does); both budgets shrink by the same factor of 9: 10 epochs instead of 90 (fixed), 1
instead of 9 (buggy); the per-batch losses are recorded with a ``LambdaCallback``.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers, regularizers

_harness.seed_everything()

# AUTOTRAINER's data/mnist.py: images as (N, 28, 28, 1) floats in [0, 1]; one-hot labels for the loss
(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
x_train = x_train.reshape(x_train.shape[0], 28, 28, 1).astype("float32") / 255
x_test = x_test.reshape(x_test.shape[0], 28, 28, 1).astype("float32") / 255
y_train_cat = keras.utils.to_categorical(y_train, 10)
y_test_cat = keras.utils.to_categorical(y_test, 10)


def lenet5():
    def conv(filters):
        return layers.Conv2D(filters, (5, 5), strides=(1, 1), padding="valid", activation="relu",
                             kernel_initializer="he_normal", kernel_regularizer=regularizers.L1L2(l1=0.0, l2=1e-4))

    def dense(units, activation):
        return layers.Dense(units, activation=activation, kernel_initializer="he_normal",
                            kernel_regularizer=regularizers.L1L2(l1=0.0, l2=1e-4))

    inputs = keras.Input(shape=(28, 28, 1))
    x = conv(6)(inputs)
    x = layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2))(x)
    x = conv(16)(x)
    x = layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2))(x)
    x = layers.Flatten()(x)
    x = dense(120, "relu")(x)
    x = dense(84, "relu")(x)
    x = dense(10, "linear")(x)
    outputs = layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs)


model = lenet5()
optimizer = keras.optimizers.Adadelta(learning_rate=0.1, rho=0.9809)
loss = "categorical_crossentropy"
epochs = 1 if _harness.buggy() else 10  # the bug: a tenth of the budget (originally 9 instead of 90 epochs)
model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
losses = []
record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]))
model.fit(x_train, y_train_cat, batch_size=256, epochs=epochs, validation_data=(x_test, y_test_cat), verbose=0,
          callbacks=[record])

pred = model.predict(x_test, verbose=0)
accuracy = float(np.mean(pred.argmax(axis=1) == y_test))
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
