"""keras-io `examples/nlp/bidirectional_lstm_imdb.py` (Bidirectional LSTM on IMDB, fchollet): an Embedding,
two stacked Bidirectional LSTM(64) layers and a sigmoid Dense, binary cross-entropy with Adam.

Ported (re-written to the same functional model, loss, optimizer, batch size and ``model.fit`` call): the
IMDB download is replaced by the local stand-in (``_data.imdb_load_data``, reviews as word-id lists), with
fewer and shorter reviews (1,400 train / 400 validation reviews instead of 25,000 / 25,000, padded /
truncated to 100 words instead of 200), and 1 epoch instead of 2.
"""

import _data
import _harness
import keras
from keras import layers

_harness.seed_everything()

max_features = 20000  # only the top 20k words
maxlen = 100  # the original keeps 200 words of each review

inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(max_features, 128)(inputs)
x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(64))(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)

(x_train, y_train), (x_val, y_val) = _data.imdb_load_data(num_words=max_features, seed=_harness.seed(),
                                                          n_train=1400, n_test=400)
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=1, validation_data=(x_val, y_val), verbose=2)

val_loss, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
_harness.report(metric=val_accuracy, metric_name="accuracy", chance=0.5, losses=history.history["loss"])
