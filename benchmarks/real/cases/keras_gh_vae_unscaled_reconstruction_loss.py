"""keras-team/keras `examples/variational_autoencoder.py` as it was before PR #3383 ("Correct the
reconstruction loss", commit 257ace722c): a VAE on MNIST (784 -> 256 relu -> 2-d latent -> 256 relu -> 784
sigmoid) trained with RMSprop on the sum of a reconstruction cross-entropy and the KL divergence.

Buggy: the reconstruction term is ``binary_crossentropy(x, x_decoded_mean)``, the *mean* over the 784
pixels, while the KL term is a *sum* over the latent units: the KL term dominates, the encoder collapses onto
the prior and the decoder outputs nearly the same average digit for every input. Fixed, as in the PR:
``original_dim * binary_crossentropy(...)``.

Ported to Keras 3 with the same layers, sampling (z = z_mean + exp(z_log_var / 2) * eps), loss terms,
optimizer (``'rmsprop'``: lr 0.001, rho 0.9, epsilon 1e-8 as Keras 1 had it), batch size 100 and
``model.fit(..., shuffle=True, validation_data=...)``. Keras 1's loss function closed over the ``z_mean`` /
``z_log_var`` tensors, which Keras 3 does not allow: the KL term is added by a pass-through layer with
``add_loss`` (its batch mean, as Keras averaged the per-sample loss). The MNIST download becomes the local
stand-in (6,000 / 1,000 images), 15 epochs instead of 50; the plots go. The reported score is minus the
validation reconstruction cross-entropy per image (784 x the mean pixel cross-entropy of the decoded mean,
the fixed program's reconstruction term), the same measure for both variants; its chance level is that of
predicting the mean training image for every input (the validation negative ELBO is printed as well).
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers, ops

_harness.seed_everything()

batch_size = 100
original_dim = 784
latent_dim = 2
intermediate_dim = 256
epochs = 15


class KLDivergence(layers.Layer):
    """Passes (z_mean, z_log_var) through and adds the VAE's KL term to the model's losses."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl_loss = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.add_loss(ops.mean(kl_loss))
        return inputs


def sampling(args):
    z_mean, z_log_var = args
    epsilon = keras.random.normal(shape=(ops.shape(z_mean)[0], latent_dim), mean=0.0)
    return z_mean + ops.exp(z_log_var / 2) * epsilon


x = keras.Input(shape=(original_dim,))
h = layers.Dense(intermediate_dim, activation="relu")(x)
z_mean = layers.Dense(latent_dim)(h)
z_log_var = layers.Dense(latent_dim)(h)
z_mean, z_log_var = KLDivergence()([z_mean, z_log_var])
z = layers.Lambda(sampling, output_shape=(latent_dim,))([z_mean, z_log_var])

decoder_h = layers.Dense(intermediate_dim, activation="relu")
decoder_mean = layers.Dense(original_dim, activation="sigmoid")
x_decoded_mean = decoder_mean(decoder_h(z))


def vae_reconstruction_loss(x, x_decoded_mean):
    xent_loss = keras.losses.binary_crossentropy(x, x_decoded_mean)  # mean over the 784 pixels
    if _harness.buggy():
        return xent_loss  # the bug: a per-pixel mean next to a KL summed over the latent units
    return original_dim * xent_loss


vae = keras.Model(x, x_decoded_mean)
vae.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-8),
            loss=vae_reconstruction_loss)

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), int(np.prod(x_train.shape[1:]))))
x_test = x_test.reshape((len(x_test), int(np.prod(x_test.shape[1:]))))


log = _harness.keras_loss_log()
vae.fit(x_train, x_train, shuffle=True, epochs=epochs, batch_size=batch_size,
        validation_data=(x_test, x_test), callbacks=[log], verbose=2)

# held-out reconstruction cross-entropy per image (and the negative ELBO), the same measures for both variants
encoder = keras.Model(x, [z_mean, z_log_var])
mu, log_var = (np.asarray(t) for t in encoder.predict(x_test, batch_size=batch_size, verbose=0))
recon = np.clip(np.asarray(vae.predict(x_test, batch_size=batch_size, verbose=0)), 1e-7, 1 - 1e-7)
bce = -np.sum(x_test * np.log(recon) + (1 - x_test) * np.log(1 - recon), axis=1)
kl = -0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var), axis=1)
mean_image = np.clip(x_train.mean(axis=0), 1e-7, 1 - 1e-7)
baseline = -np.sum(x_test * np.log(mean_image) + (1 - x_test) * np.log(1 - mean_image), axis=1)
print(f"validation reconstruction cross-entropy per image: {bce.mean():.2f} (mean-image baseline "
      f"{baseline.mean():.2f}); negative ELBO {np.mean(bce + kl):.2f}")
_harness.report(metric=-float(bce.mean()), metric_name="minus validation reconstruction cross-entropy",
                chance=-float(baseline.mean()), losses=log.losses)
