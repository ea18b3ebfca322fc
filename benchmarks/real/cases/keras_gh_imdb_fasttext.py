"""keras-team/keras `examples/imdb_fasttext.py` (fastText-style text classification, after Joulin et al.,
"Bag of Tricks for Efficient Text Classification"): IMDB reviews as word ids (optionally augmented with
n-gram ids, ``ngram_range = 1`` by default, i.e. unigrams only), padded to 400 tokens, an Embedding(20000,
50), GlobalAveragePooling1D and a Dense(1, sigmoid); binary cross-entropy, Adam, batch 32, ``model.fit``
with the test set as validation data.

Ported to Keras 3 with the same n-gram helpers, padding, model, loss, optimizer, batch size and ``fit``
call: the IMDB download becomes the local stand-in ``_data.imdb_load_data`` (same list-of-word-ids format,
0 / 1 labels; fewer and shorter reviews); ``input_length`` (gone in Keras 3) is dropped from the Embedding;
6 epochs instead of 5. The outcome is the test accuracy.
"""

import _data
import _harness
import keras
import numpy as np
from keras.layers import Dense, Embedding, GlobalAveragePooling1D
from keras.models import Sequential
from keras.utils import pad_sequences

_harness.seed_everything()


def create_ngram_set(input_list, ngram_value=2):
    """Extract a set of n-grams from a list of integers."""
    return set(zip(*[input_list[i:] for i in range(ngram_value)]))


def add_ngram(sequences, token_indice, ngram_range=2):
    """Augment the input list of list (sequences) by appending n-grams values."""
    new_sequences = []
    for input_list in sequences:
        new_list = input_list[:]
        for ngram_value in range(2, ngram_range + 1):
            for i in range(len(new_list) - ngram_value + 1):
                ngram = tuple(new_list[i:i + ngram_value])
                if ngram in token_indice:
                    new_list.append(token_indice[ngram])
        new_sequences.append(new_list)
    return new_sequences


# ngram_range = 2 will add bi-gram features
ngram_range = 1
max_features = 20000
maxlen = 400
batch_size = 32
embedding_dims = 50
epochs = 6

print("Loading data...")
(x_train, y_train), (x_test, y_test) = _data.imdb_load_data(num_words=max_features, seed=_harness.seed())
x_train, x_test = list(x_train), list(x_test)
print(len(x_train), "train sequences")
print(len(x_test), "test sequences")
print(f"Average train sequence length: {np.mean(list(map(len, x_train)), dtype=int)}")

if ngram_range > 1:
    print(f"Adding {ngram_range}-gram features")
    # Create set of unique n-gram from the training set.
    ngram_set = set()
    for input_list in x_train:
        for i in range(2, ngram_range + 1):
            ngram_set.update(create_ngram_set(input_list, ngram_value=i))
    # n-gram ids start above max_features to avoid collisions with the word ids
    start_index = max_features + 1
    token_indice = {v: k + start_index for k, v in enumerate(ngram_set)}
    indice_token = {token_indice[k]: k for k in token_indice}
    max_features = np.max(list(indice_token.keys())) + 1
    x_train = add_ngram(x_train, token_indice, ngram_range)
    x_test = add_ngram(x_test, token_indice, ngram_range)

print("Pad sequences (samples x time)")
x_train = pad_sequences(x_train, maxlen=maxlen)
x_test = pad_sequences(x_test, maxlen=maxlen)
print("x_train shape:", x_train.shape)

print("Build model...")
model = Sequential()
model.add(keras.Input(shape=(maxlen,)))
# an efficient embedding layer which maps the vocab indices into embedding_dims dimensions
model.add(Embedding(max_features, embedding_dims))
# a GlobalAveragePooling1D averages the embeddings of all words in the document
model.add(GlobalAveragePooling1D())
# a single unit output layer, squashed with a sigmoid
model.add(Dense(1, activation="sigmoid"))

model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

log = _harness.keras_loss_log()
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=(x_test, y_test), verbose=2,
          callbacks=[log])

test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.5, losses=log.losses)
