"""fchollet/deep-learning-with-python-notebooks issue #293 ("chapter 7 torch implementation of CustomModel
forgets to zero_grad"): in the third edition's chapter07_deep-dive-keras.ipynb, section "train_step() metrics
handling with PyTorch", the ``keras.Model`` subclass overrides ``train_step`` for the torch backend with
``predictions = self(inputs, training=True)``, ``loss = self.compute_loss(...)``, ``loss.backward()``, the
gradients read from ``v.value.grad`` and ``self.optimizer.apply(gradients, trainable_weights)`` under
``torch.no_grad()`` -- but never clears the gradients, so every step applies the running sum of all the
gradients seen since the start ("the torch train_step implementations need to self.zero_grad(), or else the
results are terrible"). The fix, as in the keras.io guide the section follows: ``self.zero_grad()`` at the
start of ``train_step``.

Ported (re-written to the same model, loss, optimizer, metrics and ``fit`` call): the chapter's MNIST
classifier Input(784) -> Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax) built as a CustomModel,
compiled with Adam(), SparseCategoricalCrossentropy() and SparseCategoricalAccuracy(), the images flattened
and scaled by 1/255, ``model.fit(train_images, train_labels, epochs=3)`` (default batch size 32).
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers

_harness.seed_everything()


class CustomModel(keras.Model):
    def train_step(self, data):
        inputs, targets = data
        if not _harness.buggy():  # the bug: the gradients of earlier steps are never cleared
            self.zero_grad()
        predictions = self(inputs, training=True)
        loss = self.compute_loss(y=targets, y_pred=predictions)

        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]

        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)

        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(targets, predictions)

        return {m.name: m.result() for m in self.metrics}


def get_custom_model():
    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(512, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = CustomModel(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


(images, labels), (test_images, test_labels) = _data.mnist_load_data(seed=_harness.seed(), n_train=6000)
images = images.reshape((len(images), 28 * 28)).astype("float32") / 255
test_images = test_images.reshape((len(test_images), 28 * 28)).astype("float32") / 255
train_images, val_images = images[1000:], images[:1000]
train_labels, val_labels = labels[1000:], labels[:1000]

log = _harness.keras_loss_log()
model = get_custom_model()
model.fit(train_images, train_labels, epochs=3, verbose=2, callbacks=[log])

predictions = model.predict(test_images, verbose=0)
accuracy = float(np.mean(np.argmax(predictions, axis=1) == test_labels))
print(f"test accuracy {accuracy:.4f}")
_harness.report(metric=accuracy, metric_name="test accuracy", chance=0.1, losses=log.losses)
