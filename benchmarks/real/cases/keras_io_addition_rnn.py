"""keras-io `examples/nlp/addition_rnn.py` (Sequence to sequence learning for performing number addition,
Smerity and others): an LSTM encoder, RepeatVector and an LSTM decoder learn to add two numbers given as a
string, e.g. "535+61" -> "596".

Ported (re-written to the same data generation, model, loss, optimizer, batch size and training loop): up to
3-digit questions are drawn with numpy, de-duplicated up to commutation, padded with spaces to 7 characters,
reversed, one-hot encoded over the 12 characters "0123456789+ " and shuffled; 10% is set apart for
validation. The model is LSTM(128) / RepeatVector(4) / LSTM(128, return_sequences=True) / Dense(12, softmax),
compiled with categorical cross-entropy, "adam" and the "accuracy" metric; the loop calls `model.fit(...,
batch_size=32, epochs=1, validation_data=...)` once per iteration for `range(1, epochs)` and after each shows
10 random validation predictions.

Changes: 10,000 questions instead of 50,000 (TRAINING_SIZE) and epochs = 12 (11 iterations) instead of 30;
`np.bool` (removed from numpy) becomes `bool`; `input_shape=` becomes a `keras.Input` (Keras 3); fit and
predict run with verbose=2 / 0; a callback records the batch losses. The reported accuracy is `evaluate`'s
per-character accuracy on the validation questions, whose chance level is that of always predicting each
output position's most frequent training character.
"""

import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

TRAINING_SIZE = 10000
DIGITS = 3
REVERSE = True
# the longest question is 'int + int' (e.g. '345+678')
MAXLEN = DIGITS + 1 + DIGITS


class CharacterTable:
    """One-hot encodes characters and decodes one-hot rows, probabilities or indices back to characters."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.char_indices = dict((c, i) for i, c in enumerate(self.chars))
        self.indices_char = dict((i, c) for i, c in enumerate(self.chars))

    def encode(self, C, num_rows):  # noqa: N803
        """``C`` one-hot encoded in ``num_rows`` rows."""
        x = np.zeros((num_rows, len(self.chars)))
        for i, c in enumerate(C):
            x[i, self.char_indices[c]] = 1
        return x

    def decode(self, x, calc_argmax=True):
        if calc_argmax:
            x = x.argmax(axis=-1)
        return "".join(self.indices_char[x] for x in x)


# the digits, the plus sign and the space used for padding
chars = "0123456789+ "
ctable = CharacterTable(chars)

questions = []
expected = []
seen = set()
print("Generating data...")
while len(questions) < TRAINING_SIZE:
    f = lambda: int("".join(np.random.choice(list("0123456789")) for i in range(np.random.randint(1, DIGITS + 1))))  # noqa: E731
    a, b = f(), f()
    # skip questions already seen, also as x+y == y+x
    key = tuple(sorted((a, b)))
    if key in seen:
        continue
    seen.add(key)
    q = "{}+{}".format(a, b)
    query = q + " " * (MAXLEN - len(q))
    ans = str(a + b)
    # answers have at most DIGITS + 1 characters
    ans += " " * (DIGITS + 1 - len(ans))
    if REVERSE:
        query = query[::-1]
    questions.append(query)
    expected.append(ans)
print("Total questions:", len(questions))

print("Vectorization...")
x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
for i, sentence in enumerate(questions):
    x[i] = ctable.encode(sentence, MAXLEN)
for i, sentence in enumerate(expected):
    y[i] = ctable.encode(sentence, DIGITS + 1)

# shuffle, as the later questions hold almost only larger numbers
indices = np.arange(len(y))
np.random.shuffle(indices)
x = x[indices]
y = y[indices]

# 10% set apart for validation, never trained on
split_at = len(x) - len(x) // 10
(x_train, x_val) = x[:split_at], x[split_at:]
(y_train, y_val) = y[:split_at], y[split_at:]
print("Training Data:", x_train.shape, y_train.shape)
print("Validation Data:", x_val.shape, y_val.shape)

print("Build model...")
num_layers = 1

model = keras.Sequential()
model.add(keras.Input(shape=(MAXLEN, len(chars))))
model.add(layers.LSTM(128))
# the encoder's last output is the decoder's input at each of the DIGITS + 1 output steps
model.add(layers.RepeatVector(DIGITS + 1))
for _ in range(num_layers):
    model.add(layers.LSTM(128, return_sequences=True))
model.add(layers.Dense(len(chars), activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.summary()

epochs = 12
batch_size = 32

log = _harness.keras_loss_log()
for epoch in range(1, epochs):
    print()
    print("Iteration", epoch)
    model.fit(x_train, y_train, batch_size=batch_size, epochs=1, validation_data=(x_val, y_val), verbose=2,
              callbacks=[log])
    # 10 random validation questions, to show the errors
    for i in range(10):
        ind = np.random.randint(0, len(x_val))
        rowx, rowy = x_val[np.array([ind])], y_val[np.array([ind])]
        preds = np.argmax(model.predict(rowx, verbose=0), axis=-1)
        q = ctable.decode(rowx[0])
        correct = ctable.decode(rowy[0])
        guess = ctable.decode(preds[0], calc_argmax=False)
        print("Q", q[::-1] if REVERSE else q, end=" ")
        print("T", correct, end=" ")
        print(("[ok] " if correct == guess else "[x] ") + guess)

val_loss, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
# chance: always the most frequent training character at each output position
majority = y_train.sum(axis=0).argmax(axis=-1)
chance = float(np.mean(y_val.argmax(axis=-1) == majority[None, :]))
_harness.report(metric=val_accuracy, metric_name="accuracy", chance=chance, losses=log.losses)
