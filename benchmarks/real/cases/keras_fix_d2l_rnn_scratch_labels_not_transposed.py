"""d2l-ai/d2l-en `chapter_recurrent-neural-networks/rnn-scratch.md` (TensorFlow tab), before commit d0c930e
(PR #1552, "bug fixed: transpose Y accordingly (because we have transposed X)").

A character-level RNN language model written from scratch: parameters W_xh, W_hh, b_h, W_hq, b_q (normal
stddev 0.01, zero biases, 512 hidden units), ``RNNModelScratch`` one-hot encodes ``tf.transpose(X)`` so the
forward loop runs time step by time step and concatenates the outputs time-major
((num_steps * batch_size, vocab_size)); ``train_epoch_ch8`` computes
``SparseCategoricalCrossentropy(from_logits=True)`` against the targets, clips the gradient norm to 1 and
applies ``tf.keras.optimizers.SGD(1)``; sequential minibatches of 32 x 35 characters of the first 10,000
characters of The Time Machine (``load_data_time_machine``), the hidden state carried from one minibatch to
the next, 500 epochs.

The bug: the targets are flattened batch-major, ``y = d2l.reshape(Y, (-1))``, while the outputs are
time-major, so almost every output is scored against the character of another sequence and another time
step; the network can only learn character frequencies. The fix: ``y = d2l.reshape(tf.transpose(Y), (-1))``.

Ported to Keras 3 on the torch backend with the same parameters, forward function, loss, clipping, SGD and
sequential iterator: the ``tf.GradientTape`` becomes torch autograd (``backward`` then the ``.grad`` of each
``keras.Variable``; the carried state is detached between minibatches, as a new tape does not reach into the
previous minibatch), ``updater.apply`` under ``no_grad``; the OneDeviceStrategy scope, the Animator and the
random-sampling rerun go. The Time Machine download becomes ``_data.text_corpus()`` (English prose) cleaned as
``read_time_machine`` does (non-letters -> space, lower case, one character per token); 60 epochs instead
of 500. The outcome is minus the cross-entropy of the next character on the 5,000 characters that follow the
training text, read sequentially with targets aligned to the outputs (chance: minus the cross-entropy of the
training text's character frequencies); the training perplexity is printed as ``train_ch8`` does.
"""

import collections
import math
import random
import re

import _data
import _harness
import keras
import numpy as np
import torch
from keras import ops

_harness.seed_everything()


def read_time_machine():
    """The text as lines, cleaned as d2l's read_time_machine does."""
    lines = _data.text_corpus().splitlines()
    return [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in lines]


class Vocab:
    def __init__(self, tokens):
        counter = collections.Counter(tokens)
        self.token_freqs = sorted(counter.items(), key=lambda x: x[0])
        self.token_freqs.sort(key=lambda x: x[1], reverse=True)
        self.idx_to_token = ["<unk>"] + [token for token, _ in self.token_freqs]
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, token):
        return self.token_to_idx.get(token, 0)


def load_corpus_time_machine(max_tokens, n_heldout):
    tokens = [ch for line in read_time_machine() for ch in line]
    vocab = Vocab(tokens)
    corpus = [vocab[token] for token in tokens]
    return corpus[:max_tokens], corpus[max_tokens:max_tokens + n_heldout], vocab


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    # Start with a random offset to partition a sequence
    offset = random.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = np.array(corpus[offset: offset + num_tokens]).reshape(batch_size, -1)
    Ys = np.array(corpus[offset + 1: offset + 1 + num_tokens]).reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_batches * num_steps, num_steps):
        yield Xs[:, i: i + num_steps], Ys[:, i: i + num_steps]


batch_size, num_steps = 32, 35
corpus, heldout, vocab = load_corpus_time_machine(max_tokens=10000, n_heldout=5000)


def get_params(vocab_size, num_hiddens):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return keras.Variable(keras.random.normal(shape, mean=0, stddev=0.01), dtype="float32")

    # Hidden layer parameters
    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = keras.Variable(ops.zeros(num_hiddens), dtype="float32")
    # Output layer parameters
    W_hq = normal((num_hiddens, num_outputs))
    b_q = keras.Variable(ops.zeros(num_outputs), dtype="float32")
    return [W_xh, W_hh, b_h, W_hq, b_q]


def init_rnn_state(batch_size, num_hiddens):
    return (ops.zeros((batch_size, num_hiddens)), )


def rnn(inputs, state, params):
    # Here `inputs` shape: (`num_steps`, `batch_size`, `vocab_size`)
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    # Shape of `X`: (`batch_size`, `vocab_size`)
    for X in inputs:
        H = ops.tanh(ops.matmul(X, W_xh) + ops.matmul(H, W_hh) + b_h)
        Y = ops.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return ops.concatenate(outputs, axis=0), (H,)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state, params):
        X = ops.one_hot(ops.transpose(ops.convert_to_tensor(X)), self.vocab_size)
        return self.forward_fn(ops.cast(X, "float32"), state, params)

    def begin_state(self, batch_size):
        return self.init_state(batch_size, self.num_hiddens)


def grad_clipping(grads, theta):
    norm = math.sqrt(sum(float(ops.sum(grad ** 2)) for grad in grads))
    if norm > theta:
        return [grad * theta / norm for grad in grads]
    return list(grads)


def train_epoch_ch8(model, train_iter, loss, updater, params, losses):
    state = None
    total, count = 0.0, 0
    for X, Y in train_iter:
        if state is None:
            state = model.begin_state(batch_size=X.shape[0])
        state = tuple(s.detach() for s in state)  # a new tape each minibatch
        y_hat, state = model(X, state, params)
        if _harness.buggy():
            y = ops.reshape(Y, (-1,))  # the bug: batch-major targets for time-major outputs
        else:
            y = ops.reshape(ops.transpose(Y), (-1,))  # transpose Y accordingly (we have transposed X)
        l = loss(y, y_hat)  # noqa: E741
        for p in params:
            p.value.grad = None
        l.backward()
        grads = grad_clipping([p.value.grad for p in params], 1)
        with torch.no_grad():
            updater.apply(grads, params)
        losses.append(l.item())
        total, count = total + losses[-1] * y.shape[0], count + y.shape[0]
    return math.exp(total / count)


def heldout_eval(model, params, data):
    """Cross-entropy (nats/char) and accuracy of the next character on held-out text read sequentially,
    targets aligned with the outputs."""
    Xs = np.array(data[:-1]).reshape(1, -1)
    Ys = np.array(data[1:])
    with torch.no_grad():
        y_hat, _ = model(Xs, model.begin_state(1), params)
        ce = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(Ys, y_hat))
    pred = ops.convert_to_numpy(ops.argmax(y_hat, axis=1))
    return ce, float(np.mean(pred == Ys))


num_hiddens = 512
model = RNNModelScratch(len(vocab), num_hiddens, init_rnn_state, rnn)
params = get_params(len(vocab), num_hiddens)
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
num_epochs, lr = 60, 1
updater = keras.optimizers.SGD(float(lr))  # Keras 3 wants a float
losses = []
for epoch in range(num_epochs):
    ppl = train_epoch_ch8(model, seq_data_iter_sequential(corpus, batch_size, num_steps), loss, updater,
                          params, losses)
    if (epoch + 1) % 10 == 0:
        print(f"epoch {epoch + 1}: perplexity {ppl:.1f}")

held_out_loss, accuracy = heldout_eval(model, params, heldout)
frequencies = np.bincount(corpus, minlength=len(vocab)) / len(corpus) + 1e-12
unigram_loss = float(-np.mean(np.log(frequencies[heldout[1:]])))
print(f"held-out cross-entropy {held_out_loss:.3f} nats/char (character frequencies {unigram_loss:.3f}), "
      f"next-character accuracy {accuracy:.3f}")
_harness.report(metric=-held_out_loss, metric_name="minus held-out cross-entropy", chance=-unigram_loss,
                losses=losses)
