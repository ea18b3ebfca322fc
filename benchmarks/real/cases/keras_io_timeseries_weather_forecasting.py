"""keras-io `examples/timeseries/timeseries_weather_forecasting.py` (Timeseries forecasting for weather
prediction, Attri / Sharma / Takach / Shah): seven Jena climate features, normalized with the training
split's mean and std, hourly windows of the past 120 hours (``timeseries_dataset_from_array`` with
``sampling_rate=6``) predict the temperature 12 hours later with LSTM(32) -> Dense(1), MSE and
Adam(learning_rate=0.001), batch 256, EarlyStopping on the validation loss.

Ported (re-written to the same features, normalization, windowing, model, loss, optimizer, batch size and
``model.fit`` call on the windowed datasets): the Jena climate CSV download becomes the local stand-in
``_data.jena_climate`` (the same 14 columns and units, every 10 minutes; 20,000 rows, about 139 days, instead
of 420,551; pandas is replaced by numpy column indexing); windows look back 240 records (40 hourly steps)
instead of 720 (120 steps), still predicting 12 hours after the window; 3 epochs instead of 10; the
ModelCheckpoint callback and the plots are gone. The outcome is the R^2 of the temperature predictions on
the validation windows.
"""

import _data
import _harness
import keras
import numpy as np

_harness.seed_everything()

raw = _data.jena_climate(seed=_harness.seed(), n_rows=20000)
titles = ["Pressure", "Temperature", "Temperature in Kelvin", "Temperature (dew point)", "Relative Humidity",
          "Saturation vapor pressure", "Vapor pressure", "Vapor pressure deficit", "Specific humidity",
          "Water vapor concentration", "Airtight", "Wind speed", "Maximum wind speed",
          "Wind direction in degrees"]

split_fraction = 0.715
train_split = int(split_fraction * int(raw.shape[0]))
step = 6

past = 240  # the original looks back 720 records (120 hourly steps)
future = 72
learning_rate = 0.001
batch_size = 256
epochs = 3


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


selected = [0, 1, 5, 7, 8, 10, 11]
print("The selected parameters are:", ", ".join(titles[i] for i in selected))
features = normalize(raw[:, selected], train_split)

train_data = features[:train_split]
val_data = features[train_split:]

start = past + future
end = start + train_split
x_train = train_data[:, :7]
y_train = features[start:end, [1]]
sequence_length = int(past / step)

dataset_train = keras.utils.timeseries_dataset_from_array(
    x_train, y_train, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)

x_end = len(val_data) - past - future
label_start = train_split + past + future
x_val = val_data[:x_end, :7]
y_val = features[label_start:, [1]]

dataset_val = keras.utils.timeseries_dataset_from_array(
    x_val, y_val, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)

for batch in dataset_train.take(1):
    inputs, targets = batch
print("Input shape:", tuple(inputs.shape))
print("Target shape:", tuple(targets.shape))

inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(32)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")

es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
history = model.fit(dataset_train, epochs=epochs, validation_data=dataset_val, callbacks=[es_callback],
                    verbose=2)

predictions, truths = [], []
for x, y in dataset_val:
    predictions.append(np.asarray(model.predict_on_batch(np.asarray(x))).reshape(-1))
    truths.append(np.asarray(y).reshape(-1))
prediction, truth = np.concatenate(predictions), np.concatenate(truths)
r2 = 1.0 - float(np.sum((truth - prediction) ** 2) / np.sum((truth - truth.mean()) ** 2))
print("validation R^2", r2)
_harness.report(metric=r2, metric_name="r2", chance=0.0, losses=history.history["loss"])
