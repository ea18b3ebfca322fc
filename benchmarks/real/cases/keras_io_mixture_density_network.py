"""keras-io example `examples/keras_recipes/approximating_non_function_mappings.py` ("Approximating
non-Function Mappings with Mixture Density Networks", lukewood): a mixture density network fitted by the
negative log-likelihood of a 20-component Gaussian mixture to a noisy spiral (several y for one x).

Ported (re-written to the same data generator, network, custom output layer, loss, optimizer, fit call and
callbacks): 10,000 points of a noisy two-revolution spiral scaled to [0, 5], x = first coordinate,
y = second; Sequential Dense(128, relu) -> Dense(128, relu) -> MixtureDensityOutput(1, 20) (a layer holding
Dense 'mdn_mus' (20, linear), 'mdn_sigmas' (20, elu + 1 + epsilon) and 'mdn_pi' (20 logits), outputs
concatenated); the loss is -mean(log sum_k softmax(pi)_k N(y; mu_k, sigma_k)) (tfp's Mixture of
MultivariateNormalDiag with a Categorical on the logits); compile(optimizer="adam"), fit(batch_size=128,
validation_split=0.15) with EarlyStopping(monitor="loss", patience=10, restore_best_weights=True) and
ReduceLROnPlateau(monitor="loss", patience=5).

Changes: keras_core -> keras; tensorflow_probability's Mixture log_prob is written out with keras.ops
(logsumexp of log_softmax(pi) + the Gaussian log-density); the tf.reshape / tf.split of the loss become
keras.ops.reshape / slicing; the data are drawn with the benchmark seed. 30 epochs instead of 300; the
example's first part (a plain Dense MSE regressor fitted to the same data to show that it learns the mean)
and the plots and sampling go; verbose=2; a callback records every batch loss. Metric (higher is better):
minus the mixture NLL of the validation split (the example's val_loss) at the end; chance: minus the NLL of
the validation y under one Gaussian with the training y's mean and std (ignoring x).
"""

import _harness
import keras
import numpy as np
from keras import callbacks, layers, ops

seed = _harness.seed_everything()


def normalize(x):
    return (x - np.min(x)) / (np.max(x) - np.min(x))


def create_noisy_spiral(n, jitter_std=0.2, revolutions=2):
    angle = np.random.uniform(0, 2 * np.pi * revolutions, [n])
    r = angle
    x = r * np.cos(angle)
    y = r * np.sin(angle)
    result = np.stack([x, y], axis=1)
    result = result + np.random.normal(scale=jitter_std, size=[n, 2])
    result = 5 * normalize(result)
    return result


xy = create_noisy_spiral(10000)
x, y = xy[:, 0:1], xy[:, 1:]

N_HIDDEN = 128


def elu_plus_one_plus_epsilon(x):
    return keras.activations.elu(x) + 1 + keras.backend.epsilon()


class MixtureDensityOutput(layers.Layer):
    def __init__(self, output_dimension, num_mixtures, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dimension
        self.num_mix = num_mixtures
        self.mdn_mus = layers.Dense(self.num_mix * self.output_dim, name="mdn_mus")
        self.mdn_sigmas = layers.Dense(self.num_mix * self.output_dim, activation=elu_plus_one_plus_epsilon,
                                       name="mdn_sigmas")
        self.mdn_pi = layers.Dense(self.num_mix, name="mdn_pi")

    def build(self, input_shape):
        self.mdn_mus.build(input_shape)
        self.mdn_sigmas.build(input_shape)
        self.mdn_pi.build(input_shape)
        super().build(input_shape)

    @property
    def trainable_weights(self):
        return self.mdn_mus.trainable_weights + self.mdn_sigmas.trainable_weights + self.mdn_pi.trainable_weights

    @property
    def non_trainable_weights(self):
        return (self.mdn_mus.non_trainable_weights + self.mdn_sigmas.non_trainable_weights
                + self.mdn_pi.non_trainable_weights)

    def call(self, x, mask=None):
        return layers.concatenate([self.mdn_mus(x), self.mdn_sigmas(x), self.mdn_pi(x)], name="mdn_outputs")


OUTPUT_DIMS = 1
N_MIXES = 20

mdn_network = keras.Sequential([
    layers.Dense(N_HIDDEN, activation="relu"),
    layers.Dense(N_HIDDEN, activation="relu"),
    MixtureDensityOutput(OUTPUT_DIMS, N_MIXES),
])


def get_mixture_loss_func(output_dim, num_mixes):
    def mdn_loss_func(y_true, y_pred):
        y_pred = ops.reshape(y_pred, [-1, (2 * num_mixes * output_dim) + num_mixes])
        y_true = ops.reshape(y_true, [-1, output_dim])
        out_mu = y_pred[:, :num_mixes * output_dim]
        out_sigma = y_pred[:, num_mixes * output_dim:2 * num_mixes * output_dim]
        out_pi = y_pred[:, 2 * num_mixes * output_dim:]
        # the mixture: a categorical on the logits out_pi over diagonal normals (mu_k, sigma_k)
        mus = ops.reshape(out_mu, [-1, num_mixes, output_dim])
        sigs = ops.reshape(out_sigma, [-1, num_mixes, output_dim])
        z = (ops.expand_dims(y_true, 1) - mus) / sigs
        component_log_prob = ops.sum(-0.5 * ops.square(z) - ops.log(sigs) - 0.5 * np.log(2 * np.pi), axis=-1)
        log_mix = ops.log_softmax(out_pi, axis=-1)
        loss = ops.logsumexp(log_mix + component_log_prob, axis=-1)  # mixture.log_prob(y_true)
        loss = ops.negative(loss)
        loss = ops.mean(loss)
        return loss

    return mdn_loss_func


mdn_network.compile(loss=get_mixture_loss_func(OUTPUT_DIMS, N_MIXES), optimizer="adam")

log = _harness.keras_loss_log()
history = mdn_network.fit(
    x,
    y,
    epochs=30,
    batch_size=128,
    validation_split=0.15,
    verbose=2,
    callbacks=[
        callbacks.EarlyStopping(monitor="loss", patience=10, restore_best_weights=True),
        callbacks.ReduceLROnPlateau(monitor="loss", patience=5),
        log,
    ],
)

split = int(len(x) * 0.85)
val_nll = float(mdn_network.evaluate(x[split:], y[split:], batch_size=128, verbose=0))
mean, std = float(np.mean(y[:split])), float(np.std(y[:split]))
gauss_nll = float(np.mean(0.5 * ((y[split:] - mean) / std) ** 2 + np.log(std) + 0.5 * np.log(2 * np.pi)))
_harness.report(metric=-val_nll, metric_name="minus_val_nll", chance=-gauss_nll, losses=log.losses)
