"""wikibook/tf2 (the book "시작하세요! 텐서플로 2.0 프로그래밍"), `Chapter4.ipynb`, cells 4.11-4.16 (Boston
Housing regression with a deep network), as it was before commit f7ea224 (the fix for issue #9, "p.94
정규화 수행").

Buggy: the inputs are standardised with `train_X.mean()` and `train_X.std()` -- one scalar mean and standard
deviation over all 13 columns at once -- instead of per feature. TAX (~190-710) and B (~0.3-400) dominate the
scalar statistics, so the features that carry the price (RM spans ~5 units, LSTAT ~36, DIS ~11, PTRATIO ~9)
are squeezed into a few hundredths of a unit around a constant. Fixed, as in the commit (and as the author's
answer in issue #9 confirms): `train_X.mean(axis=0)`, `train_X.std(axis=0)` (and the same for Y, where it
changes nothing since Y is one column).

Ported (re-written with the same model, loss, optimizer and loop): the train statistics applied to train and
test; the targets standardised with the train mean and std; Dense(52, relu) -> Dense(39, relu) ->
Dense(26, relu) -> Dense(1); Adam lr 0.07; mse; fit(epochs=25, batch_size=32, validation_split=0.25);
model.evaluate on the test split.

Changes: `boston_housing.load_data()` (a download) -> the local stand-in `_data.boston_housing_load_data`
(404 / 102 rows, 13 raw features in the real columns' ranges, prices 5-50); verbose 0; the plots are dropped;
the early-stopping re-run of cells 4.18-4.20 is left out. The reported measure is the test R^2 (1 - the
evaluated test MSE / the variance of the standardised test prices), the notebook's `model.evaluate` in a
scale-free form; chance 0.
"""

import _data
import _harness
import keras
import numpy as np

seed = _harness.seed_everything()

(train_X, train_Y), (test_X, test_Y) = _data.boston_housing_load_data(seed=seed)
train_X, test_X = train_X.astype("float64"), test_X.astype("float64")
train_Y, test_Y = train_Y.astype("float64"), test_Y.astype("float64")

axis = None if _harness.buggy() else 0  # the bug: one scalar mean / std over every column
x_mean = train_X.mean(axis=axis)  # the bug
x_std = train_X.std(axis=axis)  # the bug
train_X -= x_mean
train_X /= x_std
test_X -= x_mean
test_X /= x_std

y_mean = train_Y.mean(axis=axis)
y_std = train_Y.std(axis=axis)
train_Y -= y_mean
train_Y /= y_std
test_Y -= y_mean
test_Y /= y_std

print(train_X[0])
print(train_Y[0])

model = keras.Sequential([
    keras.Input(shape=(13,)),
    keras.layers.Dense(units=52, activation='relu'),
    keras.layers.Dense(units=39, activation='relu'),
    keras.layers.Dense(units=26, activation='relu'),
    keras.layers.Dense(units=1),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.07), loss='mse')

log = _harness.keras_loss_log()
history = model.fit(train_X, train_Y, epochs=25, batch_size=32, validation_split=0.25, callbacks=[log], verbose=0)
print("last val_loss", history.history["val_loss"][-1])

test_mse = float(model.evaluate(test_X, test_Y, verbose=0))
r2 = 1.0 - test_mse / float(np.var(test_Y))
print(f"test mse {test_mse:.4f}, R^2 {r2:.4f}")
_harness.report(metric=r2, metric_name="test R^2", chance=0.0, losses=log.losses)
