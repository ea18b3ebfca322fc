"""j40903272/MalConv-keras (`malconv.py` + `train.py`), bug fixed in commit a0c3f1c ("bug fix"), one of the
GitHub bugs of Islam et al., "Repairing Deep Neural Networks: Fix Patterns and Challenges" (ICSE 2020): MalConv,
a gated 1-D convolution over the raw bytes of an executable, classifies files as benign or malware.

Buggy: the output layer is ``Dense(1, activation='softmax')``. A softmax over a single unit is 1 for every
input, so the model predicts "malware" for every file, ``binary_crossentropy`` has nothing to differentiate
and the accuracy stays at the share of malware. Fixed, as in the commit: ``Dense(1, activation='sigmoid')``.

Ported to Keras 3 with the same model (Embedding(vocab, 8); two Conv1D(128, kernel=stride=win_size,
padding='same') branches, one gated by a sigmoid and multiplied into the other; GlobalMaxPool1D; Dense(64);
the output Dense), loss, optimizer ('adam'), batch size 64, shuffled 10% validation split and
EarlyStopping(val_acc, patience=5). The executables become the local ``_data.executables`` stand-in (600 files
of 0.6-1 KB instead of a CSV of real binaries), max_len 1,000 bytes instead of 200,000, and 3 epochs instead of
100 (one step takes about a second on one CPU thread).
"""

import _data
import _harness
import keras
import numpy as np

_harness.seed_everything()

max_len, win_size, batch_size, epochs, val_size = 1000, 500, 64, 3, 0.1


def preprocess(files, max_len):
    """Raw bytes -> token ids (byte value + 1; 0 pads), cut or post-padded to max_len."""
    seq = np.zeros((len(files), max_len), dtype="int32")
    for i, data in enumerate(files):
        ids = np.frombuffer(data[:max_len], dtype=np.uint8).astype("int32") + 1
        seq[i, :len(ids)] = ids
    return seq


def Malconv(max_len=200000, win_size=500, vocab_size=257):  # noqa: N802
    inp = keras.Input((max_len,))
    emb = keras.layers.Embedding(vocab_size, 8)(inp)

    conv1 = keras.layers.Conv1D(kernel_size=win_size, filters=128, strides=win_size, padding="same")(emb)
    conv2 = keras.layers.Conv1D(kernel_size=win_size, filters=128, strides=win_size, padding="same")(emb)
    a = keras.layers.Activation("sigmoid")(conv2)

    mul = keras.layers.multiply([conv1, a])
    p = keras.layers.GlobalMaxPool1D()(mul)
    d = keras.layers.Dense(64)(p)
    out = keras.layers.Dense(1, activation="softmax" if _harness.buggy() else "sigmoid")(d)  # the bug

    return keras.Model(inp, out)


files, label = _data.executables(seed=_harness.seed(), n=600, min_len=600, max_len=1000)
data = preprocess(files, max_len)

model = Malconv(max_len, win_size, 257)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["acc"])

# shuffle and split validation
idx = np.arange(len(data))
np.random.shuffle(idx)
split = int(len(data) * val_size)
x_train, x_test = data[idx[split:]], data[idx[:split]]
y_train, y_test = label[idx[split:]], label[idx[:split]]


log = _harness.keras_loss_log()
ear = keras.callbacks.EarlyStopping(monitor="val_acc", patience=5)
history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=2,
                    callbacks=[ear, log], validation_data=(x_test, y_test))

pred = model.predict(x_test, verbose=0).ravel()
accuracy = float(np.mean((pred > 0.5).astype(int) == y_test))
print("validation accuracy:", accuracy)
majority = float(max(np.mean(y_test), 1 - np.mean(y_test)))
_harness.report(metric=accuracy, metric_name="accuracy", chance=majority, losses=log.losses)
