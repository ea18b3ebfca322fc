"""keras-io `examples/nlp/lstm_seq2seq.py` (Character-level recurrent sequence-to-sequence model, fchollet):
English sentences translated to French character by character with an LSTM encoder whose final (h, c) states
start an LSTM decoder trained by teacher forcing.

Ported (re-written to the same vectorisation, model, loss, optimizer, batch size and `fit` call): one-hot
characters, "\\t" as the start and "\\n" as the end of every target, inputs and targets padded with the
one-hot " "; the decoder target is the decoder input one step ahead. Encoder LSTM(256, return_state=True),
decoder LSTM(256, return_sequences=True, return_state=True) with initial_state = the encoder's [h, c], then
Dense(num_decoder_tokens, softmax); `compile(optimizer="rmsprop", loss="categorical_crossentropy",
metrics=["accuracy"])`, `fit(batch_size=64, validation_split=0.2)`; the inference encoder / decoder models are
rebuilt from the trained layers and decode greedily. The fra-eng download becomes `_data.fra_eng_text`.
"""

import _data
import _harness
import keras
import numpy as np

_harness.seed_everything()

batch_size = 64  # Batch size for training.
epochs = 10  # Number of epochs to train for.
latent_dim = 256  # Latent dimensionality of the encoding space.
num_samples = 1000  # Number of samples to train on.

# Vectorize the data.
input_texts = []
target_texts = []
input_characters = set()
target_characters = set()
lines = _data.fra_eng_text(seed=_harness.seed(), n=num_samples).split("\n")
for line in lines[: min(num_samples, len(lines) - 1)]:
    input_text, target_text = line.split("\t")[:2]
    # "\t" starts and "\n" ends every target
    target_text = "\t" + target_text + "\n"
    input_texts.append(input_text)
    target_texts.append(target_text)
    for char in input_text:
        if char not in input_characters:
            input_characters.add(char)
    for char in target_text:
        if char not in target_characters:
            target_characters.add(char)

input_characters = sorted(input_characters)
target_characters = sorted(target_characters)
num_encoder_tokens = len(input_characters)
num_decoder_tokens = len(target_characters)
max_encoder_seq_length = max([len(txt) for txt in input_texts])
max_decoder_seq_length = max([len(txt) for txt in target_texts])

print("Number of samples:", len(input_texts))
print("Number of unique input tokens:", num_encoder_tokens)
print("Number of unique output tokens:", num_decoder_tokens)
print("Max sequence length for inputs:", max_encoder_seq_length)
print("Max sequence length for outputs:", max_decoder_seq_length)

input_token_index = {char: i for i, char in enumerate(input_characters)}
target_token_index = {char: i for i, char in enumerate(target_characters)}

encoder_input_data = np.zeros((len(input_texts), max_encoder_seq_length, num_encoder_tokens), dtype="float32")
decoder_input_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
decoder_target_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")

for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts, strict=True)):
    for t, char in enumerate(input_text):
        encoder_input_data[i, t, input_token_index[char]] = 1.0
    encoder_input_data[i, t + 1 :, input_token_index[" "]] = 1.0
    for t, char in enumerate(target_text):
        # the decoder target is the decoder input one step ahead, without the start character
        decoder_input_data[i, t, target_token_index[char]] = 1.0
        if t > 0:
            decoder_target_data[i, t - 1, target_token_index[char]] = 1.0
    decoder_input_data[i, t + 1 :, target_token_index[" "]] = 1.0
    decoder_target_data[i, t:, target_token_index[" "]] = 1.0

# the encoder: keep its final states only
encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
encoder = keras.layers.LSTM(latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]

# the decoder starts from the encoder's states
decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)

model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)

model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
log = _harness.keras_loss_log()
history = model.fit(
    [encoder_input_data, decoder_input_data],
    decoder_target_data,
    batch_size=batch_size,
    epochs=epochs,
    validation_split=0.2,
    verbose=2,
    callbacks=[log],
)

# inference models built from the trained layers
encoder_model = keras.Model(encoder_inputs, encoder_states)
decoder_state_input_h = keras.Input(shape=(latent_dim,))
decoder_state_input_c = keras.Input(shape=(latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_states = [state_h_dec, state_c_dec]
decoder_outputs = decoder_dense(decoder_outputs)
decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states)

reverse_target_char_index = {i: char for char, i in target_token_index.items()}


def decode_sequence(input_seq):
    states_value = encoder_model.predict(input_seq, verbose=0)
    target_seq = np.zeros((1, 1, num_decoder_tokens))
    target_seq[0, 0, target_token_index["\t"]] = 1.0
    stop_condition = False
    decoded_sentence = ""
    while not stop_condition:
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled_token_index = int(np.argmax(output_tokens[0, -1, :]))
        sampled_char = reverse_target_char_index[sampled_token_index]
        decoded_sentence += sampled_char
        if sampled_char == "\n" or len(decoded_sentence) > max_decoder_seq_length:
            stop_condition = True
        target_seq = np.zeros((1, 1, num_decoder_tokens))
        target_seq[0, 0, sampled_token_index] = 1.0
        states_value = [h, c]
    return decoded_sentence


for seq_index in range(3):
    print("-")
    print("Input sentence:", input_texts[seq_index])
    print("Decoded sentence:", decode_sequence(encoder_input_data[seq_index : seq_index + 1]))

# held-out measure (task "generative"): minus the validation loss (teacher-forced categorical cross-entropy on
# the last 20% that validation_split holds out); chance: minus that loss for a model that ignores every input
# and predicts the training targets' character frequencies at each position
n_val = len(input_texts) - int(len(input_texts) * (1 - 0.2))
train_freq = decoder_target_data[:-n_val].reshape(-1, num_decoder_tokens).mean(0)
val_rows = decoder_target_data[-n_val:].reshape(-1, num_decoder_tokens)
chance_loss = float(-(val_rows * np.log(np.clip(train_freq, 1e-7, 1.0))).sum(-1).mean())
val_loss = history.history["val_loss"][-1]
print(f"validation loss {val_loss:.4f}, character-frequency loss {chance_loss:.4f}")
_harness.report(metric=-val_loss, metric_name="minus validation loss", chance=-chance_loss, losses=log.losses,
                val_accuracy=history.history["val_accuracy"][-1])
