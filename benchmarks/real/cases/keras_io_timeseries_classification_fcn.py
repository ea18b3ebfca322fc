"""keras-io `examples/timeseries/timeseries_classification_from_scratch.py` (Timeseries classification from
scratch, hfawaz): a fully convolutional network on the FordA engine-noise series: three blocks of
Conv1D(64, 3, same) + BatchNormalization + ReLU, GlobalAveragePooling1D and a softmax Dense, sparse
categorical cross-entropy with Adam, batch 32, ``validation_split=0.2``, ReduceLROnPlateau and EarlyStopping.

Ported (re-written to the same model, loss, optimizer, callbacks and ``model.fit`` call): the FordA TSV
download becomes the local stand-in ``_data.forda_load_data`` (z-normalized univariate series, labels -1 / 1
mapped to 0 / 1 as in the original; 800 train / 400 test series of length 128 instead of 3,601 / 1,320 of
length 500, so that enough steps fit the time limit for BatchNormalization's moving statistics to settle);
20 epochs instead of up to 500; the ModelCheckpoint callback and the reload of the best checkpoint are gone
(the final model is evaluated); no plots.
"""

import _data
import _harness
import keras
import numpy as np

_harness.seed_everything()

(x_train, y_train), (x_test, y_test) = _data.forda_load_data(seed=_harness.seed(), n_train=800, length=128)
x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
num_classes = len(np.unique(y_train))

idx = np.random.permutation(len(x_train))  # shuffled because of validation_split
x_train = x_train[idx]
y_train = y_train[idx]
y_train[y_train == -1] = 0
y_test[y_test == -1] = 0


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])

epochs = 20
batch_size = 32
callbacks = [
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=20, min_lr=0.0001),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, verbose=1),
]
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, callbacks=callbacks,
                    validation_split=0.2, verbose=2)

y_pred = model.predict(x_test, verbose=0).argmax(axis=1)
accuracy = float(np.mean(y_pred == y_test))
print("Test accuracy", accuracy)
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.5, losses=history.history["loss"])
