"""keras-io example `keras_recipes/trainer_pattern.py`: one custom `train_step` / `test_step` shared by two
Keras models through a wrapping `keras.Model` subclass ("Trainer pattern"), trained on MNIST with `fit`.

Ported (re-written to the same models, loss, optimizers, steps and `fit` calls): `MyTrainer` wraps a model,
owns `SparseCategoricalCrossentropy()` (on softmax outputs) and a `SparseCategoricalAccuracy` metric (its only
metric), and its `train_step` runs the wrapped model with `training=True`, takes the gradients of the loss with
respect to its trainable variables, applies them with the compiled optimizer and returns the metrics;
`test_step` updates the metrics on `training=False` predictions. Model A: Sequential Flatten -> Dense(256,
relu) -> Dropout(0.2) -> Dense(10, softmax), compiled with `keras.optimizers.SGD()`; model B: functional
Input(28, 28, 1) -> Flatten -> Dense(512, relu) -> Dropout(0.4) -> Dense(10, softmax) with
`keras.optimizers.Adam()`; each `fit(x_train, y_train, epochs=5, batch_size=64, validation_data=(x_test,
y_test))` on pixels scaled by 1/255.

Changes: the example sets `KERAS_BACKEND=tensorflow` and differentiates with `tf.GradientTape`; with the torch
backend the same step is written the way Keras documents for torch (`zero_grad`, `loss.backward()`, gradients
from `.value.grad`, `optimizer.apply` under `no_grad`). MNIST download -> the local stand-in (6,000 / 1,000
images of the same uint8 28x28 format); verbose=2; each step's loss is also kept for
the report (the example's `train_step` returns only the accuracy). The measure is the lower of the two models'
final validation accuracies.
"""

import _data
import _harness
import keras
import torch

_harness.seed_everything()

# Load the MNIST dataset and standardize the data
(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
x_train, x_test = x_train / 255.0, x_test / 255.0


class MyTrainer(keras.Model):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy()
        self.seen_losses = []

    @property
    def metrics(self):
        return [self.accuracy_metric]

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self.model(x, training=True)  # forward pass
        loss = self.loss_fn(y, y_pred)
        loss.backward()  # gradients of the loss for the trainable variables
        trainable_vars = list(self.trainable_variables)
        gradients = [v.value.grad for v in trainable_vars]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_vars)  # update the weights
        self.seen_losses.append(float(loss.detach()))
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self.model(x, training=False)
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def call(self, x):
        return self.model(x)


# A model defined with the Sequential API
model_a = keras.models.Sequential([
    keras.layers.Flatten(),
    keras.layers.Dense(256, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])

# A model defined with the Functional API
func_input = keras.Input(shape=(28, 28, 1))
x = keras.layers.Flatten()(func_input)
x = keras.layers.Dense(512, activation="relu")(x)
x = keras.layers.Dropout(0.4)(x)
func_output = keras.layers.Dense(10, activation="softmax")(x)
model_b = keras.Model(func_input, func_output)

trainer_1 = MyTrainer(model_a)
trainer_2 = MyTrainer(model_b)

trainer_1.compile(optimizer=keras.optimizers.SGD())
history_1 = trainer_1.fit(x_train, y_train, epochs=5, batch_size=64, validation_data=(x_test, y_test), verbose=2)

trainer_2.compile(optimizer=keras.optimizers.Adam())
history_2 = trainer_2.fit(x_train, y_train, epochs=5, batch_size=64, validation_data=(x_test, y_test), verbose=2)

acc_1 = history_1.history["val_sparse_categorical_accuracy"][-1]
acc_2 = history_2.history["val_sparse_categorical_accuracy"][-1]
_harness.report(metric=min(acc_1, acc_2), metric_name="min validation accuracy of the two trainers", chance=0.1,
                losses=trainer_1.seen_losses + trainer_2.seen_losses, sgd_accuracy=acc_1, adam_accuracy=acc_2)
