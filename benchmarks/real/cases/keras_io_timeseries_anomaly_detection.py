"""keras-io `examples/timeseries/timeseries_anomaly_detection.py` (Timeseries anomaly detection using an
Autoencoder, pavithrasv): a convolutional reconstruction autoencoder on windows of 288 five-minute values (one
day) of the NAB `art_daily_small_noise` series, normalized with the training mean and std: Conv1D(32, 7,
stride 2, relu) / Dropout(0.2) / Conv1D(16, 7, stride 2, relu) / Conv1DTranspose(16, 7, stride 2, relu) /
Dropout(0.2) / Conv1DTranspose(32, 7, stride 2, relu) / Conv1DTranspose(1, 7), all "same" padding, MSE with
Adam(learning_rate=0.001), batch 128, ``validation_split=0.1`` and EarlyStopping on the validation loss;
then the largest training MAE is the threshold that flags anomalous windows of the `art_daily_jumpsup` series.

Ported (re-written to the same model, loss, optimizer, batch size, callback and ``model.fit`` call): the two
NAB CSV downloads become seeded series built here of the same kind and shape (14 days every 5 minutes,
4,032 values: a daily pattern of a low night level near 20 and a day-time hump near 80 with small noise; the
test series has the same pattern plus a jump up during one day); pandas is replaced by numpy; 4 epochs
instead of up to 50; no plots. The outcome is minus the reconstruction MSE on the validation windows (the
last 10% that ``validation_split`` holds out; task "generative"); its chance level is minus the MSE of
predicting the training mean everywhere.
"""

import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

TIME_STEPS = 288  # 24 * 60 / 5 values a day
N_DAYS = 14


def daily_series(rng, jump_day=None):
    """A NAB-like artificial daily series: 288 values a day, a low night level and a day-time hump, noise."""
    t = np.arange(N_DAYS * TIME_STEPS)
    phase = (t % TIME_STEPS) / TIME_STEPS
    rise = 1.0 / (1.0 + np.exp(-(phase - 0.30) * 80))
    fall = 1.0 / (1.0 + np.exp((phase - 0.70) * 80))
    hump = rise * fall * (0.75 + 0.25 * np.sin(np.pi * (phase - 0.30) / 0.40))
    values = 20.0 + 60.0 * hump + rng.normal(0.0, 2.0, size=t.shape)
    if jump_day is not None:  # art_daily_jumpsup: the hump of one day jumps far above its usual level
        day = (t // TIME_STEPS) == jump_day
        values[day] += 80.0 * hump[day]
    return values.reshape(-1, 1)


rng = np.random.default_rng(_harness.seed())
small_noise = daily_series(rng)
daily_jumpsup = daily_series(rng, jump_day=10)

# Normalize and save the mean and std we get, for normalizing test data.
training_mean = small_noise.mean(axis=0)
training_std = small_noise.std(axis=0, ddof=1)  # pandas' std
training_value = (small_noise - training_mean) / training_std
print("Number of training samples:", len(training_value))


def create_sequences(values, time_steps=TIME_STEPS):
    output = []
    for i in range(len(values) - time_steps + 1):
        output.append(values[i: (i + time_steps)])
    return np.stack(output)


x_train = create_sequences(training_value)
print("Training input shape: ", x_train.shape)

model = keras.Sequential(
    [
        layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
        layers.Conv1D(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers.Dropout(rate=0.2),
        layers.Conv1D(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers.Dropout(rate=0.2),
        layers.Conv1DTranspose(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
    ]
)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")

log = _harness.keras_loss_log()
history = model.fit(
    x_train,
    x_train,
    epochs=4,
    batch_size=128,
    validation_split=0.1,
    callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min"), log],
    verbose=2,
)

# The anomaly detection of the original: the worst training MAE is the threshold.
x_train_pred = model.predict(x_train, verbose=0)
train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)
threshold = np.max(train_mae_loss)
print("Reconstruction error threshold: ", threshold)

test_value = (daily_jumpsup - training_mean) / training_std
x_test = create_sequences(test_value)
x_test_pred = model.predict(x_test, verbose=0)
test_mae_loss = np.mean(np.abs(x_test_pred - x_test), axis=1).reshape((-1))
anomalies = test_mae_loss > threshold
print("Number of anomaly samples: ", np.sum(anomalies))

# The held-out measure: reconstruction MSE on the windows validation_split held out (the last 10%).
n_val = int(len(x_train) * 0.1)
x_val = x_train[-n_val:]
val_mse = float(np.mean((x_train_pred[-n_val:] - x_val) ** 2))
chance_mse = float(np.mean((x_val - x_train[:-n_val].mean()) ** 2))
print(f"validation MSE {val_mse:.4f}, training-mean MSE {chance_mse:.4f}")
_harness.report(metric=-val_mse, metric_name="minus validation reconstruction MSE", chance=-chance_mse,
                losses=log.losses, anomalies=int(np.sum(anomalies)))
