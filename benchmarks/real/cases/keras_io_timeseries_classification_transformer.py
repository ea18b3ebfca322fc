"""keras-io `examples/timeseries/timeseries_classification_transformer.py` (Timeseries classification with a
Transformer model, Theodoros Ntakouris): four Transformer encoder blocks (MultiHeadAttention with
head_size 256 and 4 heads, dropout, LayerNormalization and a residual; a feed-forward part of two
pointwise Conv1D layers, LayerNormalization and a residual) on the raw FordA engine-noise series,
GlobalAveragePooling1D, Dense(128, relu), Dropout(0.4) and a softmax Dense; sparse categorical
cross-entropy, Adam(1e-4), batch 64, ``validation_split=0.2`` and EarlyStopping(patience=10,
restore_best_weights=True).

Ported (re-written to the same model, loss, optimizer, callback and ``model.fit`` call): the FordA TSV
download becomes the local stand-in ``_data.forda_load_data`` (z-normalized univariate series, labels -1 / 1
mapped to 0 / 1 as in the original; fewer and shorter series, see the TOML); a few epochs instead of up to
200. The outcome is the test accuracy from ``model.evaluate``.
"""

import os

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

N_TRAIN, LENGTH, EPOCHS = int(os.environ.get("NT", 600)), int(os.environ.get("LEN", 128)), int(os.environ.get("EP", 10))
(x_train, y_train), (x_test, y_test) = _data.forda_load_data(seed=_harness.seed(), n_train=N_TRAIN, length=LENGTH)

x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))

n_classes = len(np.unique(y_train))

idx = np.random.permutation(len(x_train))
x_train = x_train[idx]
y_train = y_train[idx]

y_train[y_train == -1] = 0
y_test[y_test == -1] = 0


def transformer_encoder(inputs, head_size, num_heads, ff_dim, dropout=0):
    # Attention and Normalization
    x = layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(inputs, inputs)
    x = layers.Dropout(dropout)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs

    # Feed Forward Part
    x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = layers.Dropout(dropout)(x)
    x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def build_model(input_shape, head_size, num_heads, ff_dim, num_transformer_blocks, mlp_units, dropout=0,
                mlp_dropout=0):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(x, head_size, num_heads, ff_dim, dropout)

    x = layers.GlobalAveragePooling1D(data_format="channels_last")(x)
    for dim in mlp_units:
        x = layers.Dense(dim, activation="relu")(x)
        x = layers.Dropout(mlp_dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


input_shape = x_train.shape[1:]

model = build_model(input_shape, head_size=256, num_heads=4, ff_dim=4, num_transformer_blocks=4,
                    mlp_units=[128], mlp_dropout=0.4, dropout=0.25)

model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=1e-4),
              metrics=["sparse_categorical_accuracy"])
model.summary()

log = _harness.keras_loss_log()
callbacks = [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True), log]

model.fit(x_train, y_train, validation_split=0.2, epochs=EPOCHS, batch_size=64, callbacks=callbacks, verbose=2)

test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.5, losses=log.losses)
