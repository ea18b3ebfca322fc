"""keras-io `examples/vision/knowledge_distillation.py` (Knowledge Distillation, Kenneth Borup): a
`Distiller(keras.Model)` subclass with its own `compile`, `train_step` and `test_step` distils a trained
convolutional teacher into a smaller student on MNIST.

Ported (re-written to the same models, losses, optimizers, `train_step` / `test_step` logic and `fit` calls):
the teacher is Conv2D(256, 3, stride 2, same) / LeakyReLU(0.2) / MaxPooling2D(2, stride 1, same) /
Conv2D(512, 3, stride 2, same) / Flatten / Dense(10) (logits), the student the same with 16 and 32 filters,
and `student_scratch` a clone of the student. The teacher is trained first with Adam and
SparseCategoricalCrossentropy(from_logits=True); then `Distiller(student, teacher).compile(optimizer=Adam(),
metrics=[SparseCategoricalAccuracy()], student_loss_fn=SparseCategoricalCrossentropy(from_logits=True),
distillation_loss_fn=KLDivergence(), alpha=0.1, temperature=10)`. Its `train_step` runs the teacher
(training=False) outside the gradient computation, the student (training=True) inside it, takes
loss = alpha * student_loss + (1 - alpha) * KL(softmax(teacher / T), softmax(student / T)) * T^2, and applies
the gradients of the student's trainable variables only; `test_step` scores the student alone. Finally the
scratch student is trained the usual way for comparison. Every `fit` uses the default batch size (the
example's `batch_size = 64` is never passed).

Changes: the original's `train_step` is written for TensorFlow (`tf.GradientTape`, `tape.gradient`,
`optimizer.apply_gradients`); with KERAS_BACKEND=torch it is written the way Keras's torch guide writes a
`train_step` (the teacher's forward under `torch.no_grad()` for "outside the tape", `zero_grad()`,
`backward()`, gradients read from the student variables' `.value.grad`, `optimizer.apply` under `no_grad`),
and the metrics are updated with `self.compute_metrics` / `self.get_metrics_result()` in place of the removed
`compiled_metrics`, the step also returns the total `loss` (for the loss log), and the class gains the `call(x): return self.student(x)` of the example's Keras 3 form (Keras 3 cannot build the compiled metrics of a model without `call`). The MNIST download becomes the local stand-in (1,000 train / 1,000 test images instead
of 60,000 / 10,000, scaled to [0, 1] with a channel axis as in the original); the teacher trains 2 epochs
instead of 5, and the distiller and the scratch student 2 instead of 3; verbose=2. The reported accuracy is
the distiller's (the distilled student's) `evaluate` accuracy on the test images.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers, ops

_harness.seed_everything()


class Distiller(keras.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1, temperature=3):
        """alpha weighs the student loss and 1 - alpha the distillation loss; temperature softens both
        distributions."""
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature

    def train_step(self, data):
        x, y = data

        # the teacher's forward pass (no gradient flows into it)
        with torch.no_grad():
            teacher_predictions = self.teacher(x, training=False)

        self.zero_grad()
        student_predictions = self.student(x, training=True)
        student_loss = self.student_loss_fn(y, student_predictions)
        # the soft targets' gradients scale as 1 / T^2 (Hinton et al.), hence the T^2
        distillation_loss = (
            self.distillation_loss_fn(
                ops.softmax(teacher_predictions / self.temperature, axis=1),
                ops.softmax(student_predictions / self.temperature, axis=1),
            )
            * self.temperature**2
        )
        loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        loss.backward()

        # only the student's weights are updated
        trainable_vars = self.student.trainable_variables
        gradients = [v.value.grad for v in trainable_vars]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_vars)

        self.compute_metrics(x, y, student_predictions, sample_weight=None)
        results = dict(self.get_metrics_result())
        results.update({"student_loss": student_loss, "distillation_loss": distillation_loss, "loss": loss})
        return results

    def test_step(self, data):
        x, y = data
        y_prediction = self.student(x, training=False)
        student_loss = self.student_loss_fn(y, y_prediction)
        self.compute_metrics(x, y, y_prediction, sample_weight=None)
        results = dict(self.get_metrics_result())
        results.update({"student_loss": student_loss})
        return results

    def call(self, x):
        return self.student(x)


teacher = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(256, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(512, (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ],
    name="teacher",
)

student = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ],
    name="student",
)

student_scratch = keras.models.clone_model(student)

batch_size = 64
(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed(), n_train=1000)
x_train = np.reshape(x_train.astype("float32") / 255.0, (-1, 28, 28, 1))
x_test = np.reshape(x_test.astype("float32") / 255.0, (-1, 28, 28, 1))

# the teacher is trained first, the usual way
teacher.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
teacher.fit(x_train, y_train, epochs=2, verbose=2)
teacher.evaluate(x_test, y_test, verbose=2)

distiller = Distiller(student=student, teacher=teacher)
distiller.compile(
    optimizer=keras.optimizers.Adam(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    distillation_loss_fn=keras.losses.KLDivergence(),
    alpha=0.1,
    temperature=10,
)
log = _harness.keras_loss_log()
distiller.fit(x_train, y_train, epochs=2, verbose=2, callbacks=[log])
results = distiller.evaluate(x_test, y_test, verbose=2, return_dict=True)

# the same student trained from scratch, for comparison
student_scratch.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
student_scratch.fit(x_train, y_train, epochs=2, verbose=2)
student_scratch.evaluate(x_test, y_test, verbose=2)

_harness.report(metric=results["sparse_categorical_accuracy"], metric_name="accuracy", chance=0.1,
                losses=log.losses)
