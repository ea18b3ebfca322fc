# Keras: fit() at lr 1e-3, then fine-tune the same compiled model with a 10x lower lr set via
# optimizer.learning_rate.assign(...) and a second fit() call (continuing epochs with initial_epoch).
import hashlib

import keras
import numpy as np
from digits import digits

keras.utils.set_random_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]
xtr, xte = xtr.astype("float32"), xte.astype("float32")

inp = keras.Input((64,))
h = keras.layers.Dense(128, activation="relu")(inp)
h = keras.layers.BatchNormalization()(h)
h = keras.layers.Dense(64, activation="relu")(h)
out = keras.layers.Dense(10)(h)
model = keras.Model(inp, out)
opt = keras.optimizers.Adam(learning_rate=1e-3)
model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(xtr, ytr, batch_size=64, epochs=10, verbose=2)
print("after stage 1:", model.evaluate(xte, yte, verbose=0))

opt.learning_rate.assign(1e-4)
print("lr now", float(opt.learning_rate.numpy() if hasattr(opt.learning_rate, "numpy") else opt.learning_rate))
model.fit(xtr, ytr, batch_size=64, epochs=16, initial_epoch=10, verbose=2)
loss, accv = model.evaluate(xte, yte, verbose=0)
print(f"final test_loss {loss:.4f} test_acc {accv:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
