"""keras-team/keras `examples/imdb_cnn_lstm.py` (a recurrent convolutional network on IMDB sentiment):
reviews padded to 100 word ids, Embedding(20000, 128), Dropout(0.25), Conv1D(64, 5, relu), MaxPooling1D(4),
LSTM(70), Dense(1) and a sigmoid Activation; binary cross-entropy, Adam, batch 30, ``model.fit`` with the
test set as validation data, then ``evaluate``.

Ported to Keras 3 with the same padding, model, loss, optimizer, batch size and ``fit`` / ``evaluate``
calls: the IMDB download becomes the local stand-in ``_data.imdb_load_data`` (same list-of-word-ids format,
0 / 1 labels; 2,500 / 1,000 reviews instead of 25,000 / 25,000); ``input_length`` (gone in Keras 3) is
dropped from the Embedding. The outcome is
the test accuracy.
"""

import _data
import _harness
import keras
from keras.layers import LSTM, Activation, Conv1D, Dense, Dropout, Embedding, MaxPooling1D
from keras.models import Sequential
from keras.utils import pad_sequences

_harness.seed_everything()

# Embedding
max_features = 20000
maxlen = 100
embedding_size = 128

# Convolution
kernel_size = 5
filters = 64
pool_size = 4

# LSTM
lstm_output_size = 70

# Training
batch_size = 30
epochs = 2

print("Loading data...")
(x_train, y_train), (x_test, y_test) = _data.imdb_load_data(num_words=max_features, seed=_harness.seed())
print(len(x_train), "train sequences")
print(len(x_test), "test sequences")

print("Pad sequences (samples x time)")
x_train = pad_sequences(list(x_train), maxlen=maxlen)
x_test = pad_sequences(list(x_test), maxlen=maxlen)
print("x_train shape:", x_train.shape)

print("Build model...")
model = Sequential()
model.add(keras.Input(shape=(maxlen,)))
model.add(Embedding(max_features, embedding_size))
model.add(Dropout(0.25))
model.add(Conv1D(filters, kernel_size, padding="valid", activation="relu", strides=1))
model.add(MaxPooling1D(pool_size=pool_size))
model.add(LSTM(lstm_output_size))
model.add(Dense(1))
model.add(Activation("sigmoid"))

model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

print("Train...")
log = _harness.keras_loss_log()
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=(x_test, y_test), verbose=2,
          callbacks=[log])
score, acc = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
print("Test score:", score)
print("Test accuracy:", acc)
_harness.report(metric=acc, metric_name="accuracy", chance=0.5, losses=log.losses)
