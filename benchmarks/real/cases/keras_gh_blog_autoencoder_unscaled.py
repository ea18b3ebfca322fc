"""keras-team/keras#3642 ("Autoencoder tutorial not reproducible"): the first model of the Keras blog post
"Building Autoencoders in Keras" (a single fully-connected autoencoder: Input(784) -> Dense(32, relu) ->
Dense(784, sigmoid), ``optimizer='adadelta'``, ``loss='binary_crossentropy'``, fitted on MNIST with
``epochs=50, batch_size=256, shuffle=True`` and the test images as ``validation_data``). The reporter copied
the code but left off the preprocessing step, so the network was fed the raw 0..255 pixels, and got "way
worse" reconstructions.

Buggy: the images reach the model (as input and as the cross-entropy target) with 0..255 values. Fixed, as
the maintainer answered and the post does: ``x.astype('float32') / 255.``.

Ported to Keras 3 with the same layers, loss and fit call; 'adadelta' becomes
``Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-8)``, the Keras 1 defaults the string stood for (Keras 3's
default rate is 0.001). MNIST becomes the local stand-in ``_data.mnist_load_data`` (6,000 / 1,000 images);
25 epochs instead of 50. The outcome is minus the test reconstruction cross-entropy against the images scaled
to [0, 1] (what the post's decoded digits are compared with), chance: the same for the mean training image.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers, ops

_harness.seed_everything()

# this is the size of our encoded representations
encoding_dim = 32  # 32 floats -> compression of factor 24.5, assuming the input is 784 floats

# this is our input placeholder
input_img = keras.Input(shape=(784,))
# "encoded" is the encoded representation of the input
encoded = layers.Dense(encoding_dim, activation="relu")(input_img)
# "decoded" is the lossy reconstruction of the input
decoded = layers.Dense(784, activation="sigmoid")(encoded)

# this model maps an input to its reconstruction
autoencoder = keras.Model(input_img, decoded)


def binary_crossentropy(y_true, y_pred):
    """Keras 1's binary_crossentropy on the TensorFlow backend: the clipped output back to logits, then
    sigmoid cross-entropy, averaged over the last axis (Keras 3's torch version rejects targets outside [0, 1])."""
    y_pred = ops.clip(y_pred, 1e-7, 1 - 1e-7)
    logits = ops.log(y_pred / (1 - y_pred))
    y_true = ops.cast(y_true, logits.dtype)
    xent = ops.relu(logits) - logits * y_true + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.mean(xent, axis=-1)


autoencoder.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-8),
                    loss=binary_crossentropy)

(x_train, _), (x_test, _) = _data.mnist_load_data(seed=_harness.seed(), n_train=12000)
raw_test = x_test.astype("float32").reshape((len(x_test), 784)) / 255.0  # for the outcome only
if not _harness.buggy():  # the bug: the post's scaling to [0, 1] was left off
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), int(np.prod(x_train.shape[1:]))))
x_test = x_test.reshape((len(x_test), int(np.prod(x_test.shape[1:]))))
print(x_train.shape)
print(x_test.shape)


log = _harness.keras_loss_log()
autoencoder.fit(x_train, x_train,
                epochs=20,
                batch_size=256,
                shuffle=True,
                validation_data=(x_test, x_test),
                verbose=2,
                callbacks=[log])

# encode and decode some digits (note that they are taken from the *test* set)
decoded_imgs = autoencoder.predict(x_test, verbose=0)
eps = 1e-7
p = np.clip(decoded_imgs, eps, 1 - eps)
recon = float(np.mean(-(raw_test * np.log(p) + (1 - raw_test) * np.log(1 - p))))
mean_img = np.clip(x_train.astype("float32").mean(axis=0) / (255.0 if _harness.buggy() else 1.0), eps, 1 - eps)
chance = float(np.mean(-(raw_test * np.log(mean_img) + (1 - raw_test) * np.log(1 - mean_img))))
print(f"test reconstruction BCE {recon:.4f}, mean-image BCE {chance:.4f}")
_harness.report(metric=-recon, metric_name="minus test reconstruction BCE", chance=-chance, losses=log.losses)
