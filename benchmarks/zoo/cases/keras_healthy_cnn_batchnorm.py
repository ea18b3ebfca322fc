"""Healthy: a Keras digits CNN with BatchNormalization, SGD with momentum."""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_healthy_cnn_batchnorm",
    framework="keras",
    kind="healthy",
    arch="cnn",
    task="multiclass",
    description="Digits CNN: conv-bn-relu x2 with pooling, softmax, SGD lr 0.05 momentum 0.9.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True, channels_last=True)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(8, 3, padding="same", name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.Activation("relu", name="relu1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 3, padding="same", name="conv2"),
            layers.BatchNormalization(name="bn2"),
            layers.Activation("relu", name="relu2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(
        keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
