"""tensorflow/docs `site/en/guide/keras/train_and_evaluate.ipynb` ("Train and evaluate with Keras"), its
first end-to-end example: a Functional MLP (Input(784) -> Dense(64, relu) 'dense_1' -> Dense(64, relu)
'dense_2' -> Dense(10) 'predictions', which outputs logits) on MNIST, compiled with RMSprop and
``metrics=['sparse_categorical_accuracy']``, ``model.fit(..., batch_size=64, epochs=3,
validation_data=(x_val, y_val))`` and ``model.evaluate`` on the test images.

The bug (fixed by commit 1993df3, "Fix loss."): the guide's string-shortcut compile,
``model.compile(optimizer='rmsprop', loss='sparse_categorical_crossentropy',
metrics=['sparse_categorical_accuracy'])``, applied to this logits model: the string loss expects
probabilities (``from_logits=False``) and is fed raw logits. The fix passes
``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``.

Ported to Keras 3 with the same layers and names, compile call, batch size, validation split (the last sixth
of the training images) and ``fit``/``evaluate`` calls. MNIST becomes the local stand-in
``_data.mnist_load_data`` (6,000 training images, 1,000 of them held out for validation as the guide holds out
10,000 of 60,000; 1,000 test images); 3 epochs as in the guide. The outcome is the test accuracy.
"""

import _data
import _harness
import keras
from keras import layers

_harness.seed_everything()

inputs = keras.Input(shape=(784,), name="digits")
x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = layers.Dense(10, name="predictions")(x)

model = keras.Model(inputs=inputs, outputs=outputs)

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())

# Preprocess the data (these are NumPy arrays)
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255

y_train = y_train.astype("float32")
y_test = y_test.astype("float32")

# Reserve the last sixth of the training samples for validation
x_val = x_train[-1000:]
y_val = y_train[-1000:]
x_train = x_train[:-1000]
y_train = y_train[:-1000]

if _harness.buggy():
    loss = "sparse_categorical_crossentropy"  # the bug: expects probabilities, the model outputs logits
else:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer="rmsprop", loss=loss, metrics=["sparse_categorical_accuracy"])


print("# Fit model on training data")
log = _harness.keras_loss_log()
history = model.fit(x_train, y_train, batch_size=64, epochs=3,
                    # We pass some validation for monitoring validation loss and metrics
                    # at the end of each epoch
                    validation_data=(x_val, y_val), verbose=2, callbacks=[log])

print("\nhistory dict:", history.history)

# Evaluate the model on the test data using `evaluate`
print("\n# Evaluate on test data")
results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
print("test loss, test acc:", results)
_harness.report(metric=results[1], metric_name="accuracy", chance=0.1, losses=log.losses)
