"""keras-team/keras#6914 ("MNIST not learning"): the official `examples/mnist_mlp.py` (Dense 512 relu, Dropout
0.2, Dense 512 relu, Dropout 0.2, Dense 10 softmax; RMSprop; batch 128) trained on MNIST pixels that were not
scaled, which the reporter found stuck around 30% accuracy ("It turns out I didn't normalize the input").

Buggy: the pixels reach the network as floats in 0..255. Fixed, as in the issue: ``x_train /= 255`` and
``x_test /= 255`` as the example does.

Ported to Keras 3 with the same model, loss, optimizer (``RMSprop()`` defaults), batch size and
``model.fit(..., validation_data=(x_test, y_test))`` call. The data (the reporter used Kaggle's MNIST CSV,
the example downloads MNIST) become the local MNIST stand-in (6,000 / 1,000 images); 5 epochs instead of 20.
"""

import _data
import _harness
import keras
from keras.layers import Dense, Dropout
from keras.models import Sequential
from keras.optimizers import RMSprop

_harness.seed_everything()

batch_size = 128
num_classes = 10
epochs = 5

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())

x_train = x_train.reshape(len(x_train), 784)
x_test = x_test.reshape(len(x_test), 784)
x_train = x_train.astype("float32")
x_test = x_test.astype("float32")
if not _harness.buggy():  # the bug: the example's scaling to [0, 1] is missing
    x_train /= 255
    x_test /= 255
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(keras.Input(shape=(784,)))
model.add(Dense(512, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(512, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(10, activation="softmax"))

model.summary()

model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])


log = _harness.keras_loss_log()
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=2,
                    validation_data=(x_test, y_test), callbacks=[log])
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
_harness.report(metric=score[1], metric_name="accuracy", chance=0.1, losses=log.losses)
