"""PacktPublishing/What-s-New-in-TensorFlow-2.0 `Chapter02/end_to_end_sequential.py`, reported in
tensorflow/tensorflow#32899 and PacktPublishing/What-s-New-in-TensorFlow-2.0#1 ("the model remains at 11%
accuracy ... only resolved when the inputs are scaled by 255"): a Sequential MLP on MNIST trained with plain
SGD on the raw 0..255 pixel values.

Buggy: the images go into the network as floats in 0..255. Fixed, as in the issues: ``x / 255`` before
training and evaluation.

Ported to Keras 3 with the same model (Flatten, Dense(100, relu), Dense(100, relu), Dense(10, softmax)),
loss (``categorical_crossentropy`` on one-hot labels), optimizer (``SGD()`` defaults) and ``model.fit``
call (batch 32, 5 steps per epoch; 80 epochs instead of 10). The MNIST download becomes the local stand-in (6,000 / 1,000
images) and the ``tf.convert_to_tensor`` / ``tf.one_hot`` calls become their NumPy / Keras equivalents.
"""

import _data
import _harness
import keras

_harness.seed_everything()

# Load Data
(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())

# Convert data from numpy arrays to float tensors, labels to one-hot
x_train = x_train.astype("float32")
x_test = x_test.astype("float32")
if not _harness.buggy():  # the bug: the 0..255 pixels are not scaled
    x_train, x_test = x_train / 255.0, x_test / 255.0
y_train = keras.utils.to_categorical(y_train, 10)
y_test = keras.utils.to_categorical(y_test, 10)

# Build neural network for classification
model = keras.Sequential()
model.add(keras.layers.Flatten())
model.add(keras.layers.Dense(100, activation="relu"))
model.add(keras.layers.Dense(100, activation="relu"))
model.add(keras.layers.Dense(10, activation="softmax"))

# Compile model
model.compile(loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.SGD(),
              metrics=["accuracy"])


log = _harness.keras_loss_log()
# Train model
model.fit(x_train, y_train, batch_size=32, steps_per_epoch=5, epochs=80, callbacks=[log], verbose=2)

# Run evaluation
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
_harness.report(metric=score[1], metric_name="accuracy", chance=0.1, losses=log.losses)
