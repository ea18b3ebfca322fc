"""TensorFlow guide "Train and evaluate with Keras" (site/en/guide/keras/train_and_evaluate.ipynb), Part II, "Using
the GradientTape: a first end-to-end example": the guide's MNIST MLP (Dense 64 relu ``dense_1``, Dense 64 relu
``dense_2``, Dense 10 ``predictions``) trained by a hand-written loop: ``SGD(learning_rate=1e-3)``,
``SparseCategoricalCrossentropy(from_logits=True)``, batches of 64 from ``shuffle(buffer_size=1024)``, 3 epochs over
the 50,000 training images (the last 10,000 of MNIST's 60,000 are reserved for validation).

The bug (introduced by commit 53cf540, "Fix loss function bug in GradientTape example", which set
``from_logits=True``; fixed by commit 43d61b5, "Remove softmax"): the output layer still has
``activation='softmax'``, so the loss applies a second softmax to probabilities. Its gradients are squashed,
the loss hardly leaves ln(10) and after 3 epochs of SGD at 1e-3 the model is still close to chance. The fix
removes the softmax so that the model returns the logits the loss expects.

Ported to Keras 3 with the PyTorch backend: the ``tf.GradientTape`` loop becomes the torch loop of keras-io's
"Writing a training loop from scratch in PyTorch" guide (forward pass, ``loss.backward()``, the gradients of
``model.trainable_weights`` to ``optimizer.apply``); same model, optimizer, loss, batch size, epochs and per-200-step
logging. The MNIST download becomes the local stand-in (60,000 / 10,000 images, same preprocessing and split);
the tf.data shuffle buffer of 1,024 becomes a full reshuffle per epoch. The guide's cell has no evaluation; the
reported measure is the accuracy on the 10,000 test images.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers

_harness.seed_everything()

# Load a toy dataset for the sake of this example
(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed(), n_train=60000, n_test=10000)

# Preprocess the data (these are Numpy arrays)
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255

y_train = y_train.astype("float32")
y_test = y_test.astype("float32")

# Reserve 10,000 samples for validation
x_val = x_train[-10000:]
y_val = y_train[-10000:]
x_train = x_train[:-10000]
y_train = y_train[:-10000]

# Get the model.
inputs = keras.Input(shape=(784,), name="digits")
x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = layers.Dense(10, activation="softmax" if _harness.buggy() else None, name="predictions")(x)  # the bug
model = keras.Model(inputs=inputs, outputs=outputs)

# Instantiate an optimizer.
optimizer = keras.optimizers.SGD(learning_rate=1e-3)
# Instantiate a loss function.
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# Prepare the training dataset.
batch_size = 64
rng = np.random.default_rng(_harness.seed())


def train_dataset():
    order = rng.permutation(len(x_train))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield torch.from_numpy(x_train[idx]), torch.from_numpy(y_train[idx])


losses = []
# Iterate over epochs.
epochs = 3
for epoch in range(epochs):
    print("Start of epoch %d" % (epoch,))

    # Iterate over the batches of the dataset.
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset()):
        # Run the forward pass of the model.
        logits = model(x_batch_train, training=True)  # Logits for this minibatch

        # Compute the loss value for this minibatch.
        loss_value = loss_fn(y_batch_train, logits)

        # Retrieve the gradients of the trainable variables with respect to the loss.
        model.zero_grad()
        loss_value.backward()
        trainable_weights = list(model.trainable_weights)
        gradients = [v.value.grad for v in trainable_weights]

        # Run one step of gradient descent by updating the value of the variables to minimize the loss.
        with torch.no_grad():
            optimizer.apply(gradients, trainable_weights)
        losses.append(float(loss_value))

        # Log every 200 batches.
        if step % 200 == 0:
            print("Training loss (for one batch) at step %s: %s" % (step, float(loss_value)))
            print("Seen so far: %s samples" % ((step + 1) * 64))

predictions = np.asarray(model.predict(x_test, batch_size=256, verbose=0))
accuracy = float(np.mean(predictions.argmax(axis=1) == y_test))
print(f"test accuracy: {accuracy:.4f}")
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
