"""keras-io guide `guides/custom_train_step_in_torch.py` ("Customizing what happens in `fit()` with PyTorch",
fchollet), its closing end-to-end example: a convolutional GAN on MNIST as a `keras.Model` subclass whose
`train_step` is written for the torch backend.

Ported (re-written to the same models, loss, optimizers, label noise, batch size and `fit` call): the
discriminator is Conv2D(64, 3, stride 2, same) / LeakyReLU(0.2) / Conv2D(128, 3, stride 2, same) /
LeakyReLU(0.2) / GlobalMaxPooling2D / Dense(1) (logits); the generator maps a 128-d latent vector through
Dense(7*7*128) / LeakyReLU(0.2) / Reshape(7, 7, 128) / two Conv2DTranspose(128, 4, stride 2, same) each with
LeakyReLU(0.2) / Conv2D(1, 7, same, sigmoid). `compile(d_optimizer, g_optimizer, loss_fn)` takes two
Adam(learning_rate=3e-4) and BinaryCrossentropy(from_logits=True). Each `train_step` labels generated images
1 and real ones 0, adds 0.05 * uniform noise to the labels, trains the discriminator on the combined batch
(`zero_grad()`, `backward()`, gradients read from `.value.grad`, `d_optimizer.apply` under `no_grad`), then
the generator against all-zero ("real") labels on fresh latent vectors, and tracks d_loss / g_loss with Mean
metrics. Data: a torch DataLoader (batch 64, shuffled) over a TensorDataset of the images, `gan.fit(...,
epochs=1)`.

Changes: the MNIST download (70,000 train + test images) becomes the local stand-in: the GAN trains on 1,792
of its train images (28 batches) for 1 epoch, and 128 of its test images are held out for the measure;
`train_step` also accepts the batch as a list (this Keras hands a DataLoader's batch over as a list, not a
tuple); verbose=2; a callback records d_loss per batch. The measure, where higher is better, is minus the
Wasserstein-1 distance between the pixel intensities of 128 generated images and those of the 128 held-out
real images; its chance level is that of the untrained generator on the same latent vectors.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers

_harness.seed_everything()

discriminator = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ],
    name="discriminator",
)

latent_dim = 128
generator = keras.Sequential(
    [
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * 128),  # a 7x7 map of 128 channels
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((7, 7, 128)),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ],
    name="generator",
)


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if isinstance(real_images, (tuple, list)):  # this Keras hands the DataLoader's batch over as a list
            real_images = real_images[0]
        batch_size = real_images.shape[0]

        # fakes from random latent points, stacked on the real batch
        latent = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        fakes = self.generator(latent)
        real_images = torch.tensor(real_images, device=device)
        combined = torch.concat([fakes, real_images], axis=0)

        # generated -> 1, real -> 0, plus a little uniform label noise
        labels = torch.concat(
            [torch.ones((batch_size, 1), device=device), torch.zeros((batch_size, 1), device=device)], axis=0
        )
        labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator)

        # discriminator step
        self.zero_grad()
        d_loss = self.loss_fn(labels, self.discriminator(combined))
        d_loss.backward()
        d_weights = self.discriminator.trainable_weights
        d_grads = [w.value.grad for w in d_weights]
        with torch.no_grad():
            self.d_optimizer.apply(d_grads, d_weights)

        # generator step: fresh latent points, every label says "real" (0); only the generator is updated
        latent = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        real_labels = torch.zeros((batch_size, 1), device=device)
        self.zero_grad()
        g_loss = self.loss_fn(real_labels, self.discriminator(self.generator(latent)))
        g_loss.backward()
        g_weights = self.generator.trainable_weights
        g_grads = [w.value.grad for w in g_weights]
        with torch.no_grad():
            self.g_optimizer.apply(g_grads, g_weights)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


class DLossLog(keras.callbacks.Callback):
    """Keeps the d_loss that fit reports after every batch."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["d_loss"]))


batch_size = 64
(x_train, _), (x_test, _) = _data.mnist_load_data(seed=_harness.seed(), n_train=1792, n_test=128)
digits = np.reshape(x_train.astype("float32") / 255.0, (-1, 28, 28, 1))
held_out_pixels = np.sort((x_test.astype("float32") / 255.0).ravel())

dataset = torch.utils.data.TensorDataset(torch.from_numpy(digits), torch.from_numpy(digits))
dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)

gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
gan.compile(
    d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
)


def pixel_distance(images):
    """Wasserstein-1 distance between the pixel intensities of ``images`` and those of the held-out real
    images (the mean gap between the two sorted lists of pixel values; both hold 128 images)."""
    fake = np.sort(np.asarray(images, dtype=np.float32).ravel())
    return float(np.abs(fake - held_out_pixels).mean())


eval_latent = np.random.default_rng(_harness.seed() + 7).normal(size=(128, latent_dim)).astype("float32")
chance = -pixel_distance(generator.predict(eval_latent, verbose=0))

log = DLossLog()
gan.fit(dataloader, epochs=1, verbose=2, callbacks=[log])

metric = -pixel_distance(generator.predict(eval_latent, verbose=0))
_harness.report(metric=metric, metric_name="minus pixel-intensity W1", chance=chance, losses=log.losses)
