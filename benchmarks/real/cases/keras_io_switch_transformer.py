"""keras-io `examples/nlp/text_classification_with_switch_transformer.py` (Text classification with Switch
Transformer, Khalid Salama): IMDB sentiment with one Transformer block whose feed-forward network is a Switch
layer, a mixture of 10 feed-forward experts behind a top-1 router with a fixed expert capacity; the router adds
a load-balancing auxiliary loss with `add_loss`.

Ported (re-written to the same layers, routing, auxiliary loss, optimizer, batch size and `fit` call):
TokenAndPositionEmbedding (two Embedding layers), TransformerBlock(ff_dim 32, 2 heads, the Switch as its ffn)
= MultiHeadAttention(key_dim 32) / Dropout / LayerNorm(1e-6) / Switch / Dropout / LayerNorm; the Router is a
Dense(10) whose logits get uniform(0.9, 1.1) noise in training, softmax, top-1 expert, one-hot mask, the
load-balanced loss mean(density_proxy * density) * num_experts^2 through `add_loss`, capacity =
tokens_per_batch // num_experts with overflowing tokens dropped; dispatch and combine tensors and the two
einsums of the original; each expert is Dense(32, relu) / Dense(32). Then GlobalAveragePooling1D / Dropout(0.25)
/ Dense(32, relu) / Dropout(0.25) / Dense(2, softmax); Adam(0.001), sparse categorical cross-entropy, batch 50.

Changes: the original is written with TensorFlow ops (tf.shape, tf.math.top_k, tf.one_hot, tf.einsum,
tf.unstack / tf.stack, ...); with KERAS_BACKEND=torch they are the same operations from keras.ops. The IMDB
download becomes the local stand-in; see the TOML for the sizes.
"""

import _data
import _harness
import keras
from keras import layers, ops

_harness.seed_everything()

vocab_size = 20000  # Only consider the top 20k words
num_tokens_per_example = 32  # Only consider the first 32 words of each movie review
(x_train, y_train), (x_val, y_val) = _data.imdb_load_data(num_words=vocab_size, seed=_harness.seed(),
                                                          n_train=1500, n_test=500)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
x_train = keras.utils.pad_sequences(x_train, maxlen=num_tokens_per_example)
x_val = keras.utils.pad_sequences(x_val, maxlen=num_tokens_per_example)

embed_dim = 32  # Embedding size for each token.
num_heads = 2  # Number of attention heads
ff_dim = 32  # Hidden layer size in feedforward network.
num_experts = 10  # Number of experts used in the Switch Transformer.
batch_size = 50  # Batch size.
learning_rate = 0.001  # Learning rate.
dropout_rate = 0.25  # Dropout rate.
num_epochs = 3  # Number of epochs.
num_tokens_per_batch = batch_size * num_tokens_per_example  # Total number of tokens per batch.
print(f"Number of tokens per batch: {num_tokens_per_batch}")


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def create_feedforward_network(ff_dim, name=None):
    return keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(ff_dim)], name=name)


def load_balanced_loss(router_probs, expert_mask):
    """Pushes the fraction of tokens routed to each expert and the router's mean probability of each expert
    towards 1 / num_experts (their dot product is smallest there)."""
    num_experts = ops.shape(expert_mask)[-1]
    density = ops.mean(expert_mask, axis=0)
    density_proxy = ops.mean(router_probs, axis=0)
    loss = ops.mean(density_proxy * density) * ops.cast((num_experts**2), "float32")
    return loss


def one_hot_or_zeros(indices, depth):
    """tf.one_hot: an index >= depth gives a row of zeros (ops.one_hot on torch raises instead)."""
    return ops.one_hot(ops.minimum(indices, depth), depth + 1)[..., :depth]


class Router(layers.Layer):
    def __init__(self, num_experts, expert_capacity):
        super().__init__()
        self.num_experts = num_experts
        self.route = layers.Dense(units=num_experts)
        self.expert_capacity = expert_capacity
        self.seed_generator = keras.random.SeedGenerator(_harness.seed())

    def call(self, inputs, training=False):
        # inputs [tokens_per_batch, embed_dim] -> router_logits [tokens_per_batch, num_experts]
        router_logits = self.route(inputs)
        if training:
            # noise for exploration across experts
            router_logits += keras.random.uniform(shape=ops.shape(router_logits), minval=0.9, maxval=1.1,
                                                  seed=self.seed_generator)
        router_probs = keras.activations.softmax(router_logits, axis=-1)
        # top-1 expert of each token and its probability
        expert_gate, expert_index = ops.top_k(router_probs, k=1)
        expert_mask = ops.one_hot(expert_index, self.num_experts)
        aux_loss = load_balanced_loss(router_probs, expert_mask)
        self.add_loss(aux_loss)
        # keep only the tokens that fit within each expert's capacity
        position_in_expert = ops.cast(ops.cumsum(expert_mask, axis=0) * expert_mask, "int32")
        expert_mask *= ops.cast(ops.less(ops.cast(position_in_expert, "int32"), self.expert_capacity), "float32")
        expert_mask_flat = ops.sum(expert_mask, axis=-1)
        # overflowing tokens get no expert
        expert_gate *= expert_mask_flat
        # combine_tensor [tokens_per_batch, num_experts, expert_capacity]
        combined_tensor = ops.expand_dims(
            expert_gate * expert_mask_flat * ops.squeeze(ops.one_hot(expert_index, self.num_experts), 1),
            -1,
        ) * ops.squeeze(one_hot_or_zeros(position_in_expert, self.expert_capacity), 1)
        # dispatch_tensor: 1 where a token goes to an expert slot
        dispatch_tensor = ops.cast(combined_tensor, "float32")
        return dispatch_tensor, combined_tensor


class Switch(layers.Layer):
    def __init__(self, num_experts, embed_dim, num_tokens_per_batch, capacity_factor=1):
        super().__init__()
        self.num_experts = num_experts
        self.embed_dim = embed_dim
        self.experts = [create_feedforward_network(embed_dim) for _ in range(num_experts)]
        self.expert_capacity = num_tokens_per_batch // self.num_experts
        self.router = Router(self.num_experts, self.expert_capacity)

    def call(self, inputs):
        batch_size = ops.shape(inputs)[0]
        num_tokens_per_example = ops.shape(inputs)[1]
        # inputs [num_tokens_per_batch, embed_dim]
        inputs = ops.reshape(inputs, [num_tokens_per_batch, self.embed_dim])
        dispatch_tensor, combine_tensor = self.router(inputs)
        # expert_inputs [num_experts, expert_capacity, embed_dim]
        expert_inputs = ops.einsum("ab,acd->cdb", inputs, dispatch_tensor)
        expert_inputs = ops.reshape(expert_inputs, [self.num_experts, self.expert_capacity, self.embed_dim])
        # dispatch to the experts
        expert_input_list = ops.unstack(expert_inputs, axis=0)
        expert_output_list = [self.experts[idx](expert_input) for idx, expert_input in enumerate(expert_input_list)]
        # expert_outputs [expert_capacity, num_experts, embed_dim]
        expert_outputs = ops.stack(expert_output_list, axis=1)
        # expert_outputs_combined [tokens_per_batch, embed_dim]
        expert_outputs_combined = ops.einsum("abc,xba->xc", expert_outputs, combine_tensor)
        outputs = ops.reshape(expert_outputs_combined, [batch_size, num_tokens_per_example, self.embed_dim])
        return outputs


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ffn, dropout_rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        # the ffn is a standard feed-forward network or a Switch layer with a mixture of experts
        self.ffn = ffn
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(dropout_rate)
        self.dropout2 = layers.Dropout(dropout_rate)

    def call(self, inputs, training=None):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)

    def compute_output_shape(self, input_shape):
        # the Switch reshapes to the fixed tokens-per-batch, so the symbolic pass must not run call()
        return input_shape


def create_classifier():
    switch = Switch(num_experts, embed_dim, num_tokens_per_batch)
    transformer_block = TransformerBlock(ff_dim, num_heads, switch)

    inputs = layers.Input(shape=(num_tokens_per_example,))
    embedding_layer = TokenAndPositionEmbedding(num_tokens_per_example, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Dense(ff_dim, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    classifier = keras.Model(inputs=inputs, outputs=outputs)
    return classifier


log = _harness.keras_loss_log()


def run_experiment(classifier):
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = classifier.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_data=(x_val, y_val),
        verbose=2,
        callbacks=[log],
    )
    return history


classifier = create_classifier()
history = run_experiment(classifier)

_harness.report(metric=history.history["val_accuracy"][-1], metric_name="accuracy", chance=0.5, losses=log.losses)
