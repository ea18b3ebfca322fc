"""Healthy: a Keras transformer-encoder block (MultiHeadAttention + feed-forward, residuals, LayerNorm) over
Conv1D token embeddings, global average pooling, softmax head."""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_healthy_transformer",
    framework="keras",
    kind="healthy",
    arch="transformer",
    task="multiclass",
    description="Conv1D embedding, one MultiHeadAttention block (4 heads, d=32), pooled softmax, Adam.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    layers = keras.layers
    inputs = keras.Input((x_train.shape[1], 1))
    tokens = layers.Conv1D(32, 5, padding="same", activation="relu", name="embed")(inputs)
    attended = layers.MultiHeadAttention(num_heads=4, key_dim=8, name="attention")(tokens, tokens)
    tokens = layers.LayerNormalization(name="norm1")(layers.Add(name="residual1")([tokens, attended]))
    hidden = layers.Dense(64, activation="relu", name="ffn1")(tokens)
    hidden = layers.Dense(32, name="ffn2")(hidden)
    tokens = layers.LayerNormalization(name="norm2")(layers.Add(name="residual2")([tokens, hidden]))
    pooled = layers.GlobalAveragePooling1D(name="pool")(tokens)
    outputs = layers.Dense(3, activation="softmax", name="out")(pooled)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
