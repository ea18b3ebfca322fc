"""keras-io `examples/nlp/text_classification_with_transformer.py` (Text classification with Transformer,
Apoorv Nandan; Keras 3 version): a custom TokenAndPositionEmbedding layer, one custom TransformerBlock layer
(MultiHeadAttention, dropout, residual LayerNormalization, ReLU feed-forward), global average pooling,
Dropout / Dense(20, relu) / Dropout and a 2-way softmax, sparse categorical cross-entropy with Adam.

Ported (re-written to the same layers, sizes, loss, optimizer, batch size and ``model.fit`` call): the IMDB
download is replaced by the local stand-in (``_data.imdb_load_data``: 2,000 train / 500 validation reviews
instead of 25,000 / 25,000, still padded to 200 words); the 2 epochs are kept.
"""

import _data
import _harness
import keras
from keras import layers, ops

_harness.seed_everything()


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attention = self.dropout1(self.att(inputs, inputs))
        out1 = self.layernorm1(inputs + attention)
        feed_forward = self.dropout2(self.ffn(out1))
        return self.layernorm2(out1 + feed_forward)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        length = ops.shape(x)[-1]
        positions = self.pos_emb(ops.arange(start=0, stop=length, step=1))
        return self.token_emb(x) + positions


vocab_size = 20000  # only the top 20k words
maxlen = 200  # only the first 200 words of each review
(x_train, y_train), (x_val, y_val) = _data.imdb_load_data(num_words=vocab_size, seed=_harness.seed(),
                                                          n_train=2000, n_test=500)
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

embed_dim = 32  # embedding size of each token
num_heads = 2  # attention heads
ff_dim = 32  # hidden size of the feed-forward network inside the transformer

inputs = layers.Input(shape=(maxlen,))
x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
x = TransformerBlock(embed_dim, num_heads, ff_dim)(x)
x = layers.GlobalAveragePooling1D()(x)
x = layers.Dropout(0.1)(x)
x = layers.Dense(20, activation="relu")(x)
x = layers.Dropout(0.1)(x)
outputs = layers.Dense(2, activation="softmax")(x)
model = keras.Model(inputs=inputs, outputs=outputs)

model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val), verbose=2)

val_loss, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
_harness.report(metric=val_accuracy, metric_name="accuracy", chance=0.5, losses=history.history["loss"])
