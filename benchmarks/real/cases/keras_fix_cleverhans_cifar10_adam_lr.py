"""cleverhans-lab/cleverhans `examples/ex_cifar10_tf.py` (the CIFAR-10 tutorial, August 2017): the Keras
``cnn_model`` of ``cleverhans.utils_keras`` (Conv2D 64 8x8 stride 2 'same', relu, Conv2D 128 6x6 stride 2
'valid', relu, Conv2D 128 5x5 stride 1 'valid', relu, Flatten, Dense 10, softmax) trained by
``cleverhans.utils_tf.model_train``: softmax cross-entropy on the logits under the softmax (``model_loss``
takes the softmax op's input), averaged over the batch, ``tf.train.AdamOptimizer(learning_rate)``, 10 epochs
of unshuffled batches of 128 (the last batch shifted back to stay full), with label-smoothed one-hot
targets (``Y_train.clip(0.1 / 9, 0.9)``) and the test accuracy printed after every epoch.

The bug (fixed by PR #220, commit 562ef62 "Fixes ex_cifar10_tf.py by changing learning rate from 0.1 to
0.001"): the ``learning_rate`` flag defaults to 0.1, far too large for Adam: "the model was not learning ...
the printed test accuracy did not change from epoch to epoch". The fix sets it to 0.001.

Ported to Keras 3 (torch backend) with the same layers, initializers (Keras defaults), loss, label smoothing,
Adam (TensorFlow's epsilon 1e-8), batch size and batch order; the TF1 session loop becomes the Keras 3 torch
idiom (``loss.backward()``, ``optimizer.apply``). CIFAR-10 becomes the local stand-in
``_data.cifar10_load_data`` (2,000 training / 500 test images); 4 epochs instead of 10. The FGSM attack and
the adversarial-training second half of the tutorial are left out; the outcome is the clean test accuracy
the first half prints.
"""

import math

import _data
import _harness
import keras
import numpy as np
import torch
from keras import ops
from keras.layers import Activation, Conv2D, Dense, Flatten
from keras.models import Sequential

_harness.seed_everything()

nb_epochs = 4
batch_size = 128
learning_rate = 0.1 if _harness.buggy() else 0.001  # the bug: Adam with a learning rate of 0.1


def data_cifar10():
    """Preprocess the CIFAR10 dataset."""
    img_rows, img_cols, nb_classes = 32, 32, 10
    (X_train, y_train), (X_test, y_test) = _data.cifar10_load_data(seed=_harness.seed(), n_train=2000,
                                                                  n_test=500)
    X_train = X_train.reshape(X_train.shape[0], img_rows, img_cols, 3).astype("float32") / 255
    X_test = X_test.reshape(X_test.shape[0], img_rows, img_cols, 3).astype("float32") / 255
    print("X_train shape:", X_train.shape)
    Y_train = keras.utils.to_categorical(y_train, nb_classes)
    Y_test = keras.utils.to_categorical(y_test, nb_classes)
    return X_train, Y_train, X_test, Y_test


def cnn_model(img_rows=28, img_cols=28, channels=1, nb_filters=64, nb_classes=10):
    """cleverhans.utils_keras.cnn_model: three convolutions, a dense layer to the logits, then a softmax."""
    model = Sequential()
    model.add(keras.Input(shape=(img_rows, img_cols, channels)))
    for layer in [Conv2D(nb_filters, (8, 8), strides=(2, 2), padding="same"),
                  Activation("relu"),
                  Conv2D(nb_filters * 2, (6, 6), strides=(2, 2), padding="valid"),
                  Activation("relu"),
                  Conv2D(nb_filters * 2, (5, 5), strides=(1, 1), padding="valid"),
                  Activation("relu"),
                  Flatten(),
                  Dense(nb_classes)]:
        model.add(layer)
    model.add(Activation("softmax"))
    return model


def logits_of(model, x):
    """What model_loss feeds the cross-entropy: the input of the final softmax."""
    for layer in model.layers[:-1]:
        x = layer(x)
    return x


def model_loss(y, logits):
    return ops.mean(ops.categorical_crossentropy(y, logits, from_logits=True))


def batch_indices(batch_nb, data_length, batch_size):
    start, end = int(batch_nb * batch_size), int((batch_nb + 1) * batch_size)
    if end > data_length:  # not enough inputs left: reuse some to complete the batch
        shift = end - data_length
        start, end = start - shift, end - shift
    return start, end


def model_eval(model, X_test, Y_test):
    with torch.no_grad():
        correct = 0
        for start in range(0, len(X_test), batch_size):
            preds = model(X_test[start:start + batch_size])
            correct += int(ops.sum(ops.argmax(preds, -1) == ops.argmax(Y_test[start:start + batch_size], -1)))
    return correct / len(X_test)


X_train, Y_train, X_test, Y_test = data_cifar10()
label_smooth = 0.1
Y_train = Y_train.clip(label_smooth / 9.0, 1.0 - label_smooth)

model = cnn_model(img_rows=32, img_cols=32, channels=3)
optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
optimizer.build(model.trainable_variables)


def train_step(x, y):
    loss = model_loss(y, logits_of(model, x))
    model.zero_grad()
    loss.backward()
    variables = list(model.trainable_variables)
    with torch.no_grad():
        optimizer.apply([v.value.grad for v in variables], variables)
    return float(loss.detach())


losses = []
accuracy = 0.0
for epoch in range(nb_epochs):
    print("Epoch " + str(epoch))
    nb_batches = int(math.ceil(float(len(X_train)) / batch_size))
    for batch in range(nb_batches):
        start, end = batch_indices(batch, len(X_train), batch_size)
        losses.append(train_step(X_train[start:end], Y_train[start:end]))
    accuracy = model_eval(model, X_test, Y_test)
    print("Test accuracy on legitimate test examples: " + str(accuracy) + f" (loss {np.mean(losses[-5:]):.4f})")

_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
