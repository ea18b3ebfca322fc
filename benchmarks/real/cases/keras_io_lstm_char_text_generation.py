"""keras-io `examples/generative/lstm_character_level_text_generation.py` (Character-level text generation
with LSTM, fchollet): lower-cased text cut into 40-character windows every 3 characters, one-hot encoded,
a Sequential LSTM(128) -> Dense(len(chars), softmax) trained with categorical cross-entropy and
RMSprop(learning_rate=0.01), batch 128, one ``model.fit`` call per epoch.

Ported (re-written to the same vectorization, model, loss, optimizer, batch size and per-epoch ``fit``
loop): the Nietzsche download becomes English prose from ``_data.text_corpus()`` (its first 45,000
characters instead of about 600,000); 2 epochs instead of 40; the sampling of 400 characters at four
temperatures after each epoch is gone. The character set also covers a held-out stretch of 6,000 characters
that follows the training text; the outcome is minus the model's cross-entropy (nats per character) on it
(task "generative"), and its chance level is minus the cross-entropy of the training text's character
frequencies, the best a model that ignores its input can do.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

corpus = _data.text_corpus().lower()
text, held_out = corpus[:45000], corpus[45000:51000]
print("corpus length:", len(text))

chars = sorted(set(text + held_out))
print("total chars:", len(chars))
char_indices = {c: i for i, c in enumerate(chars)}

maxlen = 40
step = 3


def vectorize(source):
    sentences, next_chars = [], []
    for i in range(0, len(source) - maxlen, step):
        sentences.append(source[i: i + maxlen])
        next_chars.append(source[i + maxlen])
    x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
    y = np.zeros((len(sentences), len(chars)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1
    return x, y


x, y = vectorize(text)
print("nb sequences:", len(x))
x_held, y_held = vectorize(held_out)

model = keras.Sequential(
    [
        keras.Input(shape=(maxlen, len(chars))),
        layers.LSTM(128),
        layers.Dense(len(chars), activation="softmax"),
    ]
)
optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
model.compile(loss="categorical_crossentropy", optimizer=optimizer)

epochs = 2
batch_size = 128
losses = []
for epoch in range(epochs):
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=2)
    losses += history.history["loss"]

held_out_loss = float(model.evaluate(x_held, y_held, batch_size=batch_size, verbose=0))
frequencies = y.mean(axis=0) + 1e-12
unigram_loss = float(-np.mean(np.log(frequencies[y_held.argmax(axis=1)])))
print(f"held-out cross-entropy {held_out_loss:.3f} nats/char, character frequencies {unigram_loss:.3f}")
_harness.report(metric=-held_out_loss, metric_name="minus held-out cross-entropy", chance=-unigram_loss,
                losses=losses)
