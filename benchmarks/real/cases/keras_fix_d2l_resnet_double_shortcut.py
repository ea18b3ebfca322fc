"""d2l-ai/d2l-en `chapter_convolutional-modern/resnet.md` (TensorFlow tab) trained with d2l's ``train_ch6``, before
commit c47dd92 ("[TF] Fix accuracy in ResNet implementation").

Buggy: ``Residual.call`` adds the shortcut to the residual branch (``Y += X``) and then adds it once more in the
return statement, ``relu(Y + X)``: every block outputs relu(F(X) + 2 X), so the un-normalised shortcut path
doubles at each of the eight blocks and the activations reaching the softmax head grow by orders of
magnitude. Fixed, as in the commit: ``return tf.keras.activations.relu(Y)``.

Ported (re-written with the same model, loss, optimizer and loop): ``Residual`` (3x3 conv, BatchNorm, relu, 3x3
conv, BatchNorm, optional strided 1x1 conv on the shortcut), ``ResnetBlock`` (two residuals per stage, the
first of every stage but the first with ``use_1x1conv=True, strides=2``), the stem (7x7 conv stride 2,
BatchNorm, relu, 3x3 max-pool stride 2), global average pooling and ``Dense(10, activation=softmax)``;
``train_ch6``: ``SGD(learning_rate=0.05)``, ``SparseCategoricalCrossentropy()``, ``fit`` for 10 epochs with
batches of 256, then ``evaluate`` on the test set. ``tf.keras`` becomes Keras 3 (``keras.layers.Layer``
subclasses; ``ResnetBlock`` iterates its list of residuals directly instead of through TensorFlow's
``ListWrapper.layers``); the ``MirroredStrategy`` scope goes. ``load_data_fashion_mnist(256, resize=96)`` becomes
the local Fashion-MNIST stand-in ``_data.fashion_mnist_load_data`` (12,000 / 1,000 images, / 255, a channel
axis; 470 SGD steps instead of the chapter's 2,350), kept at 28 x 28 instead of being resized to 96 x 96, and
the stage widths are 8 / 16 / 32 / 64 instead of 64 / 128 / 256 / 512 (stem 8 channels instead of 64), so that
one run takes about 35 s on one CPU thread. Reported measure: the test accuracy from ``evaluate``.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

WIDTH = 8  # d2l: 64 (stages 64 / 128 / 256 / 512)


class Residual(layers.Layer):
    def __init__(self, num_channels, use_1x1conv=False, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(num_channels, padding="same", kernel_size=3, strides=strides)
        self.conv2 = layers.Conv2D(num_channels, kernel_size=3, padding="same")
        self.conv3 = None
        if use_1x1conv:
            self.conv3 = layers.Conv2D(num_channels, kernel_size=1, strides=strides)
        self.bn1 = layers.BatchNormalization()
        self.bn2 = layers.BatchNormalization()

    def call(self, X, training=None):
        Y = keras.activations.relu(self.bn1(self.conv1(X), training=training))
        Y = self.bn2(self.conv2(Y), training=training)
        if self.conv3 is not None:
            X = self.conv3(X)
        Y += X
        if _harness.buggy():
            return keras.activations.relu(Y + X)  # the bug: the shortcut is added a second time
        return keras.activations.relu(Y)


class ResnetBlock(layers.Layer):
    def __init__(self, num_channels, num_residuals, first_block=False, **kwargs):
        super().__init__(**kwargs)
        self.residual_layers = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                self.residual_layers.append(Residual(num_channels, use_1x1conv=True, strides=2))
            else:
                self.residual_layers.append(Residual(num_channels))

    def call(self, X, training=None):
        for layer in self.residual_layers:
            X = layer(X, training=training)
        return X


def net():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(WIDTH, kernel_size=7, strides=2, padding="same"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.MaxPool2D(pool_size=3, strides=2, padding="same"),
        ResnetBlock(WIDTH, 2, first_block=True),
        ResnetBlock(2 * WIDTH, 2),
        ResnetBlock(4 * WIDTH, 2),
        ResnetBlock(8 * WIDTH, 2),
        layers.GlobalAvgPool2D(),
        layers.Dense(units=10, activation=keras.activations.softmax)])


def load_data_fashion_mnist(seed):
    (x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=seed, n_train=12000)
    process = lambda X, y: ((X[..., None] / 255).astype(np.float32), y.astype(np.int32))  # noqa: E731
    return process(x_train, y_train), process(x_test, y_test)


def train_ch6(net_fn, train_data, test_data, num_epochs, lr, batch_size):
    optimizer = keras.optimizers.SGD(learning_rate=lr)
    loss = keras.losses.SparseCategoricalCrossentropy()
    model = net_fn()
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    log = _harness.keras_loss_log()
    history = model.fit(*train_data, epochs=num_epochs, batch_size=batch_size, verbose=2, callbacks=[log]).history
    test_acc = model.evaluate(*test_data, batch_size=batch_size, return_dict=True, verbose=0)["accuracy"]
    print(f"train loss {history['loss'][-1]:.3f}, train acc {history['accuracy'][-1]:.3f}, test acc {test_acc:.3f}")
    return test_acc, log.losses


lr, num_epochs, batch_size = 0.05, 10, 256
train_data, test_data = load_data_fashion_mnist(_harness.seed())
test_acc, losses = train_ch6(net, train_data, test_data, num_epochs, lr, batch_size)
_harness.report(metric=test_acc, metric_name="accuracy", chance=0.1, losses=losses)
