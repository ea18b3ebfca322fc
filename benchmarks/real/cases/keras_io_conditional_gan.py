"""keras-io example `examples/generative/conditional_gan.py` ("Conditional GAN", Sayak Paul): a GAN on MNIST
conditioned on the digit class, as a `keras.Model` subclass with a custom `train_step`.

Ported (re-written to the same models, conditioning, loss, optimizers, batch size and `fit` call): the
generator takes a 128-d latent vector concatenated with the one-hot class (138 inputs) through
Dense(7*7*138) / LeakyReLU(0.2) / Reshape(7, 7, 138) / two Conv2DTranspose(128, 4, stride 2, same) each with
LeakyReLU(0.2) / Conv2D(1, 7, same, sigmoid); the discriminator sees the image with the one-hot class
repeated over 10 extra channels (28x28x11) through Conv2D(64, 3, s2, same) / LeakyReLU(0.2) /
Conv2D(128, 3, s2, same) / LeakyReLU(0.2) / GlobalMaxPooling2D / Dense(1) (logits). Each `train_step`
labels generated images 1 and real ones 0 (no label noise in this example), trains the discriminator on the
combined batch, then the generator on fresh latent vectors with the same classes against all-zero ("real")
labels, and tracks g_loss / d_loss with Mean metrics; compile(d_optimizer, g_optimizer, loss_fn) takes two
Adam(learning_rate=3e-4) and BinaryCrossentropy(from_logits=True); fit on (images, one-hot labels) in
shuffled batches of 64.

Changes: `train_step` is written for the torch backend the way Keras's torch guide writes one (zero_grad /
backward / gradients from `.value.grad` / `optimizer.apply` under no_grad, latent vectors from
keras.random.normal with a SeedGenerator) instead of tf.GradientTape; the batch may arrive as a list; the
model sets `self.built = True` (its parts are built; the installed Keras refuses to fit a subclass without
`call` otherwise). The MNIST download (all 70,000 train + test digits) becomes the local stand-in: 768 of
its train images (12 batches of 64) train the GAN for 1 epoch instead of 20, and 200 of its test images are
held out; tf.data becomes a torch DataLoader (batch 64, shuffled); the interpolation / GIF part goes;
verbose=2; a callback records d_loss per batch. The measure (task generative, higher is better) is minus the
mean over the held-out images' classes of the Wasserstein-1 distance between the pixel intensities of images
generated for that class and those of the held-out real images of that class; its chance level is that of
the untrained generator on the same latent vectors and classes.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers

_harness.seed_everything()

batch_size = 64
num_channels = 1
num_classes = 10
image_size = 28
latent_dim = 128

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed(), n_train=768, n_test=200)
all_digits = x_train.astype("float32") / 255.0
all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
all_labels = keras.utils.to_categorical(y_train, 10).astype("float32")

dataset = torch.utils.data.TensorDataset(torch.from_numpy(all_digits), torch.from_numpy(all_labels))
dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)

generator_in_channels = latent_dim + num_classes
discriminator_in_channels = num_channels + num_classes

discriminator = keras.Sequential(
    [
        keras.layers.InputLayer((28, 28, discriminator_in_channels)),
        layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ],
    name="discriminator",
)

generator = keras.Sequential(
    [
        keras.layers.InputLayer((generator_in_channels,)),
        # 128 + num_classes coefficients per position of a 7x7 map
        layers.Dense(7 * 7 * generator_in_channels),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((7, 7, generator_in_channels)),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ],
    name="generator",
)


class ConditionalGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.built = True

    @property
    def metrics(self):
        return [self.gen_loss_tracker, self.disc_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, data):
        real_images, one_hot_labels = data
        real_images = torch.as_tensor(real_images)
        one_hot_labels = torch.as_tensor(one_hot_labels)

        # the labels as 10 constant image channels, for the discriminator
        image_one_hot_labels = one_hot_labels[:, :, None, None]
        image_one_hot_labels = torch.repeat_interleave(image_one_hot_labels, image_size * image_size)
        image_one_hot_labels = torch.reshape(image_one_hot_labels, (-1, image_size, image_size, num_classes))

        # latent points with the labels, for the generator
        batch_size = real_images.shape[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        random_vector_labels = torch.concat([random_latent_vectors, one_hot_labels], axis=1)

        generated_images = self.generator(random_vector_labels)

        # fakes and reals, each with their label channels
        fake_image_and_labels = torch.concat([generated_images, image_one_hot_labels], -1)
        real_image_and_labels = torch.concat([real_images, image_one_hot_labels], -1)
        combined_images = torch.concat([fake_image_and_labels, real_image_and_labels], axis=0)

        # generated -> 1, real -> 0
        labels = torch.concat([torch.ones((batch_size, 1)), torch.zeros((batch_size, 1))], axis=0)

        # discriminator step
        self.zero_grad()
        predictions = self.discriminator(combined_images)
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        d_weights = self.discriminator.trainable_weights
        d_grads = [w.value.grad for w in d_weights]
        with torch.no_grad():
            self.d_optimizer.apply(d_grads, d_weights)

        # generator step: fresh latent points, same labels, every target says "real" (0)
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        random_vector_labels = torch.concat([random_latent_vectors, one_hot_labels], axis=1)
        misleading_labels = torch.zeros((batch_size, 1))
        self.zero_grad()
        fake_images = self.generator(random_vector_labels)
        fake_image_and_labels = torch.concat([fake_images, image_one_hot_labels], -1)
        predictions = self.discriminator(fake_image_and_labels)
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        g_weights = self.generator.trainable_weights
        g_grads = [w.value.grad for w in g_weights]
        with torch.no_grad():
            self.g_optimizer.apply(g_grads, g_weights)

        self.gen_loss_tracker.update_state(g_loss)
        self.disc_loss_tracker.update_state(d_loss)
        return {
            "g_loss": self.gen_loss_tracker.result(),
            "d_loss": self.disc_loss_tracker.result(),
        }


class DLossLog(keras.callbacks.Callback):
    """Keeps the d_loss that fit reports after every batch."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["d_loss"]))


cond_gan = ConditionalGAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
cond_gan.compile(
    d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
)

# held-out measure: per class, generated vs held-out real pixel intensities
held_out = x_test.astype("float32") / 255.0
eval_rng = np.random.default_rng(_harness.seed() + 7)
eval_noise = eval_rng.normal(size=(len(y_test), latent_dim)).astype("float32")
eval_inputs = np.concatenate([eval_noise, keras.utils.to_categorical(y_test, 10).astype("float32")], axis=1)


def class_pixel_distance():
    fakes = np.asarray(generator.predict(eval_inputs, verbose=0))[..., 0]
    distances = []
    for c in np.unique(y_test):
        mask = y_test == c
        fake = np.sort(fakes[mask].ravel())
        real = np.sort(held_out[mask].ravel())
        distances.append(float(np.abs(fake - real).mean()))
    return float(np.mean(distances))


chance = -class_pixel_distance()
log = DLossLog()
cond_gan.fit(dataloader, epochs=1, verbose=2, callbacks=[log])
metric = -class_pixel_distance()
_harness.report(metric=metric, metric_name="minus per-class pixel-intensity W1", chance=chance,
                losses=log.losses)
