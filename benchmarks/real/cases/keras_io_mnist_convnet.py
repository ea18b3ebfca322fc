"""keras-io `examples/vision/mnist_convnet.py` (Simple MNIST convnet, fchollet): two Conv2D/MaxPooling blocks,
Flatten, Dropout(0.5) and a softmax Dense trained with categorical cross-entropy and Adam.

Ported (re-written to the same Sequential model, loss, optimizer, batch size and ``model.fit`` call with
``validation_split=0.1``): the MNIST download is replaced by the local stand-in of the same shape and range
(6,000 train / 1,000 test images instead of 60,000 / 10,000) and training runs 3 epochs instead of 15.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

num_classes = 10
input_shape = (28, 28, 1)

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)

batch_size = 128
epochs = 3

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=2)

test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.1, losses=history.history["loss"])
