"""keras-io example `examples/generative/real_nvp.py` ("Density estimation using Real NVP", Mandolini,
Sanna, Zannini Quirini): a normalizing flow fitted by maximum likelihood to scikit-learn's two moons.

Ported (re-written to the same data, normalization, coupling networks, masks, flow, loss, optimizer and fit
call): make_moons(3000, noise=0.05) as float32, a Normalization layer adapted to it; 6 affine coupling layers
with alternating masks [0, 1] / [1, 0], each a Keras model Input(2) -> s: 4 x Dense(256, relu) ->
Dense(2, tanh) and t: 4 x Dense(256, relu) -> Dense(2, linear), every Dense with kernel_regularizer l2(0.01)
(whose penalties the custom train_step does not add to the loss, as in the example); the subclassed RealNVP
model runs the couplings in reverse in training (data -> latent) accumulating the log-determinant; the loss
is -mean(log N(z; 0, I) + log det); a custom train_step / test_step with a Mean loss tracker;
Adam(learning_rate=0.0001); fit(batch_size=256, validation_split=0.2, verbose=2).

Changes: the tf.GradientTape train_step becomes the torch backend's form (zero_grad, backward, gradients from
the variables' `.value.grad`, optimizer.apply under no_grad), as Keras's torch guide writes it; tf ops ->
keras.ops, the numpy masks a tensor (a numpy array times a torch tensor fails); tensorflow_probability's MultivariateNormalDiag(loc 0, scale 1).log_prob is written out
(-0.5 |z|^2 - log(2 pi)); make_moons gets the benchmark seed as random_state. 12 epochs instead of 300; the
plots and sampling go; a callback records every batch loss. Metric (higher is better): minus the final
validation loss (the example's val_loss, the validation NLL in nats); chance: minus the NLL of the
normalized validation data under the standard normal base distribution alone (about -2.84).
"""

import _harness
import keras
import numpy as np
import torch
from keras import layers, ops, regularizers
from sklearn.datasets import make_moons

seed = _harness.seed_everything()

data = make_moons(3000, noise=0.05, random_state=seed)[0].astype("float32")
norm = layers.Normalization()
norm.adapt(data)
normalized_data = ops.convert_to_numpy(norm(data))

output_dim = 256
reg = 0.01


def Coupling(input_shape):  # noqa: N802  (the example's name)
    input = keras.layers.Input(shape=(input_shape,))
    t_layer_1 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(input)
    t_layer_2 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(t_layer_1)
    t_layer_3 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(t_layer_2)
    t_layer_4 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(t_layer_3)
    t_layer_5 = keras.layers.Dense(input_shape, activation="linear",
                                   kernel_regularizer=regularizers.l2(reg))(t_layer_4)

    s_layer_1 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(input)
    s_layer_2 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(s_layer_1)
    s_layer_3 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(s_layer_2)
    s_layer_4 = keras.layers.Dense(output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg))(s_layer_3)
    s_layer_5 = keras.layers.Dense(input_shape, activation="tanh", kernel_regularizer=regularizers.l2(reg))(s_layer_4)

    return keras.Model(inputs=input, outputs=[s_layer_5, t_layer_5])


def normal_log_prob(z):
    """MultivariateNormalDiag(loc=[0, 0], scale_diag=[1, 1]).log_prob."""
    return -0.5 * ops.sum(ops.square(z), axis=1) - np.log(2 * np.pi)


class RealNVP(keras.Model):
    def __init__(self, num_coupling_layers):
        super().__init__()
        self.num_coupling_layers = num_coupling_layers
        self.masks = ops.convert_to_tensor(np.array([[0, 1], [1, 0]] * (num_coupling_layers // 2), dtype="float32"))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.layers_list = [Coupling(2) for i in range(num_coupling_layers)]

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=True):
        log_det_inv = 0
        direction = 1
        if training:
            direction = -1
        for i in range(self.num_coupling_layers)[::direction]:
            x_masked = x * self.masks[i]
            reversed_mask = 1 - self.masks[i]
            s, t = self.layers_list[i](x_masked)
            s = s * reversed_mask
            t = t * reversed_mask
            gate = (direction - 1) / 2
            x = reversed_mask * (x * ops.exp(direction * s) + direction * t * ops.exp(gate * s)) + x_masked
            log_det_inv = log_det_inv + gate * ops.sum(s, axis=1)
        return x, log_det_inv

    def log_loss(self, x):
        y, logdet = self(x)
        log_likelihood = normal_log_prob(y) + logdet
        return -ops.mean(log_likelihood)

    def train_step(self, data):
        self.zero_grad()
        loss = self.log_loss(data)
        loss.backward()
        trainable_weights = list(self.trainable_variables)
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        loss = self.log_loss(data)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


model = RealNVP(num_coupling_layers=6)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0001))

log = _harness.keras_loss_log()
history = model.fit(normalized_data, batch_size=256, epochs=12, verbose=2, validation_split=0.2, callbacks=[log])

val_loss = history.history["val_loss"][-1]
val = normalized_data[int(len(normalized_data) * 0.8):]
base_nll = float(-np.mean(-0.5 * np.sum(val**2, axis=1) - np.log(2 * np.pi)))
_harness.report(metric=-val_loss, metric_name="minus_val_nll", chance=-base_nll, losses=log.losses)
