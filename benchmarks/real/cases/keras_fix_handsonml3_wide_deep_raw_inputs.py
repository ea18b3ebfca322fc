"""ageron/handson-ml3 `10_neural_nets_with_keras.ipynb`, the Wide & Deep regression on California housing
(Functional API): Normalization -> Dense(30, relu) -> Dense(30, relu) is the deep path, a Concatenate joins it
with the wide path and Dense(1) predicts the median house value; MSE, Adam(learning_rate=1e-3), 20 epochs.

The bug (fixed by commit bdd246b, "Fixing wide-and-deep to use normalized inputs"): the wide path
concatenates the raw input (``concat_layer([input_, hidden2])``), so features such as the block population
(thousands) reach the output layer unscaled. The fix concatenates the normalized input instead.

Ported to Keras 3 with the same layers, order, sizes, activations, loss, optimizer, ``adapt`` call and
``model.fit(..., validation_data=...)`` call (default batch size 32). ``fetch_california_housing`` (a
download) becomes the local stand-in ``_data.california_housing`` with the same 8 columns, units and target
range; 4 epochs instead of 20; the plots go. The outcome is the R^2 of the test-set predictions.
"""

import _data
import _harness
import keras
import numpy as np
from sklearn.model_selection import train_test_split

_harness.seed_everything()

data, target = _data.california_housing(seed=_harness.seed())
X_train_full, X_test, y_train_full, y_test = train_test_split(data, target, random_state=42)
X_train, X_valid, y_train, y_valid = train_test_split(X_train_full, y_train_full, random_state=42)

normalization_layer = keras.layers.Normalization()
hidden_layer1 = keras.layers.Dense(30, activation="relu")
hidden_layer2 = keras.layers.Dense(30, activation="relu")
concat_layer = keras.layers.Concatenate()
output_layer = keras.layers.Dense(1)

input_ = keras.layers.Input(shape=X_train.shape[1:])
normalized = normalization_layer(input_)
hidden1 = hidden_layer1(normalized)
hidden2 = hidden_layer2(hidden1)
wide = input_ if _harness.buggy() else normalized  # the bug: the wide path skips the normalization
concat = concat_layer([wide, hidden2])
output = output_layer(concat)

model = keras.Model(inputs=[input_], outputs=[output])
model.summary()


optimizer = keras.optimizers.Adam(learning_rate=1e-3)
model.compile(loss="mse", optimizer=optimizer, metrics=["RootMeanSquaredError"])
normalization_layer.adapt(X_train)
log = _harness.keras_loss_log()
history = model.fit(X_train, y_train, epochs=4, validation_data=(X_valid, y_valid), verbose=2,
                    callbacks=[log])
mse_test, rmse_test = model.evaluate(X_test, y_test, verbose=0)
print("test RMSE:", rmse_test)

y_pred = model.predict(X_test, verbose=0).ravel()
r2 = 1.0 - float(np.sum((y_test - y_pred) ** 2) / np.sum((y_test - y_test.mean()) ** 2))
_harness.report(metric=r2, metric_name="r2", chance=0.0, losses=log.losses)
