"""keras-io example `examples/generative/vq_vae.py` ("Vector-Quantized Variational Autoencoders", Sayak
Paul): a VQ-VAE on MNIST. A custom VectorQuantizer layer snaps every encoder vector to its nearest codebook
entry, adds its own loss with `add_loss` (beta * commitment + codebook, with stop_gradient on either side)
and passes gradients straight through (x + stop_gradient(q - x)); a VQVAETrainer model's custom
train_step adds the variance-normalized reconstruction MSE to the layer's losses.

Ported (re-written to the same layer, encoder, decoder, trainer, losses, optimizer and fit call):
VectorQuantizer(num_embeddings 128, embedding_dim 16, beta 0.25) with a trainable (16, 128) codebook drawn
uniform(-0.05, 0.05); encoder Input(28, 28, 1) -> Conv2D(32, 3, relu, strides 2, same) -> Conv2D(64, 3,
relu, strides 2, same) -> Conv2D(16, 1, same); decoder Conv2DTranspose(64, 3, relu, strides 2, same) ->
Conv2DTranspose(32, 3, relu, strides 2, same) -> Conv2DTranspose(1, 3, same) (get_decoder builds a spare
encoder for its input shape, as in the example); pixels / 255 - 0.5, reconstruction loss
mean((x - x_hat)^2) / var(train pixels / 255), total = it + sum(vqvae.losses); Adam() defaults;
fit(batch_size=128).

Changes: the tf.GradientTape train_step becomes the torch backend's form (zero_grad, backward, gradients from
the variables' `.value.grad`, optimizer.apply under no_grad), and the trainer sets self.built = True (its
parts are built; the installed Keras refuses to fit a subclass without call otherwise); the codebook
tf.Variable becomes add_weight with the same initializer range; tf ops -> keras.ops (stop_gradient, one_hot,
argmin, matmul). keras.datasets.mnist (60,000 train / 10,000 test) -> _data.mnist_load_data (3,000 train /
500 test digits, same uint8 28 x 28); 3 epochs instead of 30; the reconstruction plots, the code
visualization and the second stage (a PixelCNN prior fitted to the codes and sampling from it) go;
verbose=2; a callback records every batch loss. Metric (higher is better): minus the reconstruction loss
(the trainer's variance-normalized MSE) on the test digits; chance: minus the same loss for predicting the
training set's mean image for every digit.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers, ops

seed = _harness.seed_everything()


class VectorQuantizer(layers.Layer):
    def __init__(self, num_embeddings, embedding_dim, beta=0.25, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.num_embeddings = num_embeddings
        # beta is best kept between 0.25 and 2 (the paper)
        self.beta = beta
        # the embeddings which the inputs are quantized to
        self.embeddings = self.add_weight(
            shape=(self.embedding_dim, self.num_embeddings),
            initializer=keras.initializers.RandomUniform(minval=-0.05, maxval=0.05),
            trainable=True,
            name="embeddings_vqvae",
        )

    def call(self, x):
        # flatten the inputs keeping embedding_dim intact
        input_shape = ops.shape(x)
        flattened = ops.reshape(x, [-1, self.embedding_dim])

        # quantization
        encoding_indices = self.get_code_indices(flattened)
        encodings = ops.one_hot(encoding_indices, self.num_embeddings)
        quantized = ops.matmul(encodings, ops.transpose(self.embeddings))
        quantized = ops.reshape(quantized, input_shape)

        # vector quantization loss, added to the layer
        commitment_loss = ops.mean((ops.stop_gradient(quantized) - x) ** 2)
        codebook_loss = ops.mean((quantized - ops.stop_gradient(x)) ** 2)
        self.add_loss(self.beta * commitment_loss + codebook_loss)

        # straight-through estimator
        quantized = x + ops.stop_gradient(quantized - x)
        return quantized

    def get_code_indices(self, flattened_inputs):
        # L2 distance between the inputs and the codes
        similarity = ops.matmul(flattened_inputs, self.embeddings)
        distances = (ops.sum(flattened_inputs**2, axis=1, keepdims=True) + ops.sum(self.embeddings**2, axis=0)
                     - 2 * similarity)
        encoding_indices = ops.argmin(distances, axis=1)
        return encoding_indices


def get_encoder(latent_dim=16):
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    encoder_outputs = layers.Conv2D(latent_dim, 1, padding="same")(x)
    return keras.Model(encoder_inputs, encoder_outputs, name="encoder")


def get_decoder(latent_dim=16):
    latent_inputs = keras.Input(shape=get_encoder(latent_dim).output.shape[1:])
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(latent_inputs)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


def get_vqvae(latent_dim=16, num_embeddings=64):
    vq_layer = VectorQuantizer(num_embeddings, latent_dim, name="vector_quantizer")
    encoder = get_encoder(latent_dim)
    decoder = get_decoder(latent_dim)
    inputs = keras.Input(shape=(28, 28, 1))
    encoder_outputs = encoder(inputs)
    quantized_latents = vq_layer(encoder_outputs)
    reconstructions = decoder(quantized_latents)
    return keras.Model(inputs, reconstructions, name="vq_vae")


class VQVAETrainer(keras.models.Model):
    def __init__(self, train_variance, latent_dim=32, num_embeddings=128, **kwargs):
        super().__init__(**kwargs)
        self.train_variance = train_variance
        self.latent_dim = latent_dim
        self.num_embeddings = num_embeddings
        self.vqvae = get_vqvae(self.latent_dim, self.num_embeddings)
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.vq_loss_tracker = keras.metrics.Mean(name="vq_loss")
        self.built = True  # the VQ-VAE is built (fit refuses a subclass without call otherwise)

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.vq_loss_tracker]

    def train_step(self, x):
        if isinstance(x, (tuple, list)):
            x = x[0]
        self.zero_grad()
        # outputs from the VQ-VAE
        reconstructions = self.vqvae(x)
        # the losses
        reconstruction_loss = ops.mean((x - reconstructions) ** 2) / self.train_variance
        total_loss = reconstruction_loss + sum(self.vqvae.losses)

        # backpropagation
        total_loss.backward()
        trainable_variables = list(self.vqvae.trainable_variables)
        grads = [v.value.grad for v in trainable_variables]
        with torch.no_grad():
            self.optimizer.apply(grads, trainable_variables)

        # loss tracking
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.vq_loss_tracker.update_state(sum(self.vqvae.losses))
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "vqvae_loss": self.vq_loss_tracker.result(),
        }


(x_train, _), (x_test, _) = _data.mnist_load_data(seed=seed, n_train=3000, n_test=500)

x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
x_train_scaled = (x_train / 255.0) - 0.5
x_test_scaled = (x_test / 255.0) - 0.5

data_variance = np.var(x_train / 255.0)

vqvae_trainer = VQVAETrainer(data_variance, latent_dim=16, num_embeddings=128)
vqvae_trainer.compile(optimizer=keras.optimizers.Adam())
log = _harness.keras_loss_log()
vqvae_trainer.fit(x_train_scaled, epochs=3, batch_size=128, verbose=2, callbacks=[log])

trained_vqvae_model = vqvae_trainer.vqvae
reconstructions_test = trained_vqvae_model.predict(x_test_scaled, verbose=0)
test_loss = float(np.mean((x_test_scaled - reconstructions_test) ** 2) / data_variance)
mean_image = x_train_scaled.mean(axis=0, keepdims=True)
baseline = float(np.mean((x_test_scaled - mean_image) ** 2) / data_variance)
print(f"test reconstruction loss {test_loss:.4f}, mean-image baseline {baseline:.4f}")
_harness.report(metric=-test_loss, metric_name="minus_test_reconstruction_loss", chance=-baseline,
                losses=log.losses)
