"""keras-team/keras#3040 ("Simple Linear Regression Nan's after a few iterations"): a single Dense(1) unit fit
to y = 2x for x = 0 .. 199 with plain SGD, batch size 1, mean squared error.

Buggy: SGD(lr=0.001, decay=1e-6). With inputs as large as 199 the step on the weight is
``lr * 2 * x**2 * error`` — about 80 times the error — so every update overshoots, the weight oscillates
with growing amplitude and the loss overflows to inf / NaN within the first epoch. The reporter closed the
issue with "realized my learning rate was too high"; fixed: the same optimizer with lr=1e-5 (the issue gives
no value; 1e-5 is the largest power of ten for which batch-1 SGD is stable on these inputs).

Ported to Keras 3 with the same model, loss, optimizer (the Keras 1 ``decay`` argument, lr / (1 + decay *
iterations), becomes an ``InverseTimeDecay`` schedule), batch size and one epoch. The program prints
predictions for the first inputs; as a held-out measure we add R^2 on the midpoints x = 0.5 .. 199.5.
"""

import _harness
import keras
import numpy as np

_harness.seed_everything()

x = 1.0 * np.array(range(200))
y = 2.0 * x

model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])

lr = 0.001 if _harness.buggy() else 1e-5  # the bug: far too large a step for inputs up to 199
schedule = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=1e-6)
sgd = keras.optimizers.SGD(learning_rate=schedule, momentum=0.0, nesterov=False)
model.compile(loss="mean_squared_error", optimizer=sgd)


log = _harness.keras_loss_log()
model.fit(x, y, epochs=1, batch_size=1, callbacks=[log], verbose=2)
score = model.predict(x[:10], batch_size=10, verbose=0)
for layer in model.layers:
    print(layer.name, layer.get_weights())
print(score.ravel())

x_held = x + 0.5
pred = model.predict(x_held, batch_size=200, verbose=0).ravel()
r2 = 1.0 - np.sum((pred - 2.0 * x_held) ** 2) / np.sum((2.0 * x_held - np.mean(2.0 * x_held)) ** 2)
print("held-out R^2:", r2)
_harness.report(metric=r2, metric_name="r2", chance=0.0, losses=log.losses)
