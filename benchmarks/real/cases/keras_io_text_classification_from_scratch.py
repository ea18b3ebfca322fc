"""keras-io `examples/nlp/text_classification_from_scratch.py` (Text classification from scratch, Mark
Omernick and Francois Chollet; Keras 3 version): raw IMDB review texts, a TextVectorization layer with a
custom standardization (lower case, "<br />" tags and punctuation removed; 20,000 tokens, sequences of 500),
then Embedding(20000, 128) / Dropout(0.5) / two Conv1D(128, 7, valid, relu, stride 3) / GlobalMaxPooling1D /
Dense(128, relu) / Dropout(0.5) / Dense(1, sigmoid), binary cross-entropy with Adam, batches of 32, 3 epochs,
``model.fit`` on the vectorized datasets with validation data, then ``evaluate`` on the test reviews.

Ported (re-written to the same vectorization, model, loss, optimizer, batch size and ``model.fit`` call):
the aclImdb download becomes review texts built here from the local IMDB stand-in
(``_data.imdb_load_data``: its word ids are spelled as made-up words, with capitals, punctuation and
"<br />" tags for the standardization to remove): 1,600 train / 400 validation / 1,000 test reviews instead
of 20,000 / 5,000 / 25,000, vectorized to 250 ids instead of 500 (no stand-in review is longer than 240 words). Under the torch backend TextVectorization cannot run inside ``tf.data`` ``map``,
so it is applied eagerly to the arrays of texts and the vectorized ids are batched with ``tf.data``; the
final end-to-end model with a string input (a TensorFlow-only construct) is gone.
"""

import re
import string

import _data
import _harness
import keras
import numpy as np
import tensorflow as tf
from keras import layers

_harness.seed_everything()

# --- the raw reviews: the stand-in's word ids written out as text ---
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]


def spell(word_id):
    """A made-up word for a word id (distinct ids, distinct words)."""
    parts = []
    word_id += len(_SYLLABLES)  # at least two syllables
    while word_id:
        word_id, rest = divmod(word_id, len(_SYLLABLES))
        parts.append(_SYLLABLES[rest])
    return "".join(parts)


def review_texts(docs, rng):
    texts = []
    for doc in docs:
        words, capital = [], True
        for word_id in doc[1:]:  # id 1 marks the start of a review
            word = spell(word_id)
            words.append(word.capitalize() if capital else word)
            capital = False
            mark = rng.random()
            if mark < 0.06:
                words[-1] += "."
                capital = True
            elif mark < 0.09:
                words[-1] += ","
            elif mark < 0.1:
                words[-1] += "!<br /><br />"
                capital = True
        texts.append(" ".join(words))
    return np.array(texts)


(train_docs, train_labels), (test_docs, test_labels) = _data.imdb_load_data(
    num_words=20000, seed=_harness.seed(), n_train=2000, n_test=1000)
rng = np.random.default_rng(_harness.seed())
train_texts, test_texts = review_texts(train_docs, rng), review_texts(test_docs, rng)

# text_dataset_from_directory(..., validation_split=0.2, seed=1337): shuffled files, 80% train / 20% val
order = np.random.default_rng(1337).permutation(len(train_texts))
train_texts, train_labels = train_texts[order], train_labels[order].astype("int32")
n_val = int(0.2 * len(train_texts))
raw_train = (train_texts[:-n_val], train_labels[:-n_val])
raw_val = (train_texts[-n_val:], train_labels[-n_val:])
raw_test = (test_texts, test_labels.astype("int32"))
batch_size = 32
print("A review:", raw_train[0][0][:200], raw_train[1][0])


def custom_standardization(input_data):
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


# Model constants.
max_features = 20000
embedding_dim = 128
sequence_length = 250  # the original keeps 500 words; the stand-in reviews have at most 240

vectorize_layer = keras.layers.TextVectorization(
    standardize=custom_standardization,
    max_tokens=max_features,
    output_mode="int",
    output_sequence_length=sequence_length,
)
text_ds = tf.data.Dataset.from_tensor_slices(raw_train[0]).batch(batch_size)
vectorize_layer.adapt(text_ds)


def vectorized_dataset(texts, labels):
    ids = np.asarray(keras.ops.convert_to_numpy(vectorize_layer(np.expand_dims(texts, -1))))
    return tf.data.Dataset.from_tensor_slices((ids, labels)).batch(batch_size).cache().prefetch(buffer_size=10)


train_ds = vectorized_dataset(*raw_train)
val_ds = vectorized_dataset(*raw_val)
test_ds = vectorized_dataset(*raw_test)

# A integer input for vocab indices.
inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(0.5)(x)
x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)
x = layers.Dense(128, activation="relu")(x)
x = layers.Dropout(0.5)(x)
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
model = keras.Model(inputs, predictions)

model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

epochs = 3
log = _harness.keras_loss_log()
model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=[log], verbose=2)

test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
print("Test accuracy", test_accuracy)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.5, losses=log.losses)
