import hashlib
import os
import tempfile

import keras
import numpy as np
import torch
from digits import digits

keras.utils.set_random_seed(0)
np.random.seed(0)
torch.manual_seed(0)
xtr, ytr, xte, yte = [t.numpy() for t in digits()]
model = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
tmp = tempfile.mkdtemp()
ck = keras.callbacks.ModelCheckpoint(os.path.join(tmp, "best.keras"), monitor="val_loss", save_best_only=True)
es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
for rnd in range(3):
    h = model.fit(
        xtr, ytr, epochs=3, batch_size=32, validation_data=(xte, yte), callbacks=[ck, es], verbose=0
    )
    print("round", rnd, "val_acc", [round(v, 4) for v in h.history["val_accuracy"]])
loss, a = model.evaluate(xte, yte, verbose=0)
best = keras.models.load_model(os.path.join(tmp, "best.keras"))
print("best ckpt acc", round(best.evaluate(xte, yte, verbose=0)[1], 4))
print(f"final acc {a:.4f} loss {loss:.4f}")
print("hash", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:16])
