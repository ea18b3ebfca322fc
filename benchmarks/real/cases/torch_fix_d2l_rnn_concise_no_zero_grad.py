"""d2l-ai/d2l-en `chapter_recurrent-neural-networks/rnn-concise.md` (PyTorch tab, added in #1348) trained with
``d2l.train_ch8`` / ``train_epoch_ch8`` of ``d2l/torch.py`` as they were before commit 954de8d
("[PyTorch][Bug Fix] RNN Scratch train_ch8 step once in a batch", #1347).

Buggy: for an ``nn.Module`` model ``train_ch8`` builds ``trainer = torch.optim.SGD(model.parameters(), lr)``
and hands ``train_epoch_ch8`` the wrapper ``updater = lambda batch_size: trainer.step()``. That wrapper is
not a ``torch.optim.Optimizer``, so ``train_epoch_ch8`` takes its from-scratch branch: ``l.backward()``,
``grad_clipping(model, 1)``, ``updater(batch_size=1)`` -- and nothing ever zeroes the gradients (only the
from-scratch ``d2l.sgd`` zeroes them). Every step follows the clipped running sum of all earlier gradients.
Fixed, as in the commit: ``updater = torch.optim.SGD(model.parameters(), lr)``, so the optimizer branch
(``zero_grad``, ``backward``, clip, ``step``) runs.

Ported (re-written with the same model, loss, optimizer, clipping and loop): ``load_data_time_machine(32, 35)``
(character tokens of the lower-cased text with everything but letters turned into spaces, ``Vocab`` sorted by
frequency with ``<unk>`` first, the first ``max_tokens=10000`` tokens, ``seq_data_iter_consecutive`` with a
random offset per epoch); ``RNNModel`` (one-hot inputs, ``nn.RNN(len(vocab), 256)``, ``nn.Linear(256,
len(vocab))`` on the flattened outputs, zero begin state); ``nn.CrossEntropyLoss``; SGD lr 1; gradient
clipping to norm 1; the hidden state carried across consecutive batches and detached. The time machine text
(``d2l.download('time_machine')``) becomes English prose from ``_data.text_corpus()``; the first 150,000
tokens instead of 10,000 (about the length of the whole book) and 15 epochs instead of 500 (about 2,000 SGD
steps instead of 4,000): on 10,000 tokens the fixed model memorises its text (training perplexity 1.3) and a
held-out measure cannot tell learning from not learning; ``state.detach_()`` on the state tensor (the
original loops ``for s in state: s.detach_()``, which torch >= 2 refuses on views). The chapter prints the
training perplexity and two 50-character predictions; the reported measure is minus the per-character
cross-entropy on the 4,000 characters that follow the training tokens (consecutive batches, as in training);
chance: minus the cross-entropy of the training tokens' unigram frequencies on those characters.
"""

import collections
import math
import random
import re

import _data
import _harness
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

NUM_EPOCHS = 15  # the chapter: 500 (over 10,000 tokens)
MAX_TOKENS = 150_000  # the chapter: load_data_time_machine's default max_tokens=10000

_harness.seed_everything()


def read_time_machine():
    lines = _data.text_corpus().split('\n')
    return [re.sub('[^A-Za-z]+', ' ', line.strip().lower()) for line in lines]


def tokenize(lines, token='word'):
    if token == 'word':
        return [line.split(' ') for line in lines]
    return [list(line) for line in lines]


def count_corpus(sentences):
    return collections.Counter(tk for line in sentences for tk in line)


class Vocab:
    def __init__(self, tokens, min_freq=0, reserved_tokens=None):
        reserved_tokens = reserved_tokens or []
        counter = count_corpus(tokens)
        self.token_freqs = sorted(counter.items(), key=lambda x: x[0])
        self.token_freqs.sort(key=lambda x: x[1], reverse=True)
        self.unk, uniq_tokens = 0, ['<unk>'] + reserved_tokens
        uniq_tokens += [token for token, freq in self.token_freqs if freq >= min_freq and token not in uniq_tokens]
        self.idx_to_token, self.token_to_idx = [], {}
        for token in uniq_tokens:
            self.idx_to_token.append(token)
            self.token_to_idx[token] = len(self.idx_to_token) - 1

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]


def load_corpus_time_machine(max_tokens=-1):
    lines = read_time_machine()
    tokens = tokenize(lines, 'char')
    vocab = Vocab(tokens)
    corpus = [vocab[tk] for line in tokens for tk in line]
    full = corpus
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab, full


def seq_data_iter_consecutive(corpus, batch_size, num_steps):
    offset = random.randint(0, num_steps)
    num_indices = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = torch.tensor(corpus[offset:offset + num_indices])
    Ys = torch.tensor(corpus[offset + 1:offset + 1 + num_indices])
    Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_batches * num_steps, num_steps):
        yield Xs[:, i:(i + num_steps)], Ys[:, i:(i + num_steps)]


class SeqDataLoader:
    def __init__(self, batch_size, num_steps, max_tokens):
        self.corpus, self.vocab, self.full = load_corpus_time_machine(max_tokens)
        self.batch_size, self.num_steps = batch_size, num_steps

    def __iter__(self):
        return seq_data_iter_consecutive(self.corpus, self.batch_size, self.num_steps)


def load_data_time_machine(batch_size, num_steps, max_tokens=MAX_TOKENS):
    data_iter = SeqDataLoader(batch_size, num_steps, max_tokens)
    return data_iter, data_iter.vocab


class RNNModel(nn.Module):
    def __init__(self, rnn_layer, num_hiddens, vocab_size):
        super().__init__()
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = num_hiddens
        self.linear = nn.Linear(self.num_hiddens, self.vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size)
        X = X.to(torch.float32)
        Y, state = self.rnn(X, state)
        output = self.linear(Y.reshape((-1, Y.shape[-1])))
        return output, state

    def begin_state(self, device, batch_size=1):
        return torch.zeros((1, batch_size, self.num_hiddens), device=device)


def predict_ch8(prefix, num_predicts, model, vocab, device):
    state = model.begin_state(batch_size=1, device=device)
    outputs = [vocab[prefix[0]]]

    def get_input():
        return torch.tensor([outputs[-1]], device=device).reshape(1, 1)

    for y in prefix[1:]:
        _, state = model(get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_predicts):
        Y, state = model(get_input(), state)
        outputs.append(int(Y.argmax(dim=1).reshape(1)))
    return ''.join([vocab.idx_to_token[i] for i in outputs])


def grad_clipping(model, theta):
    params = [p for p in model.parameters() if p.requires_grad]
    norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm


losses = []


def train_epoch_ch8(model, train_iter, loss, updater, device):
    state = None
    loss_sum, n = 0.0, 0
    for X, Y in train_iter:
        if state is None:
            state = model.begin_state(batch_size=X.shape[0], device=device)
        else:
            state.detach_()
        y = Y.T.reshape(-1)
        py, state = model(X, state)
        l = loss(py, y.long()).mean()  # noqa: E741
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.backward()
            grad_clipping(model, 1)
            updater.step()
        else:
            l.backward()
            grad_clipping(model, 1)
            updater(batch_size=1)
        losses.append(float(l))
        loss_sum += float(l) * y.numel()
        n += y.numel()
    return math.exp(loss_sum / n)


def train_ch8(model, train_iter, vocab, lr, num_epochs, device):
    loss = nn.CrossEntropyLoss()
    if _harness.buggy():  # the bug: a lambda around trainer.step() is no Optimizer -> no zero_grad ever
        trainer = torch.optim.SGD(model.parameters(), lr)

        def updater(batch_size):
            trainer.step()
    else:
        updater = torch.optim.SGD(model.parameters(), lr)

    def predict(prefix):
        return predict_ch8(prefix, 50, model, vocab, device)

    for epoch in range(num_epochs):
        ppl = train_epoch_ch8(model, train_iter, loss, updater, device)
        if epoch % 5 == 0:
            print(f"epoch {epoch + 1}: perplexity {ppl:.1f} | {predict('time traveller')}")
    print(f'perplexity {ppl:.1f}')
    print(predict('time traveller'))
    print(predict('traveller'))


batch_size, num_steps = 32, 35
train_iter, vocab = load_data_time_machine(batch_size, num_steps)
num_hiddens = 256
rnn_layer = nn.RNN(len(vocab), num_hiddens)
device = torch.device('cpu')
model = RNNModel(rnn_layer, num_hiddens=256, vocab_size=len(vocab))
num_epochs, lr = NUM_EPOCHS, 1
train_ch8(model, train_iter, vocab, lr, num_epochs, device)

# held-out: the 4,000 tokens after the training tokens, read in consecutive batches of 4 x 35
held = train_iter.full[MAX_TOKENS:MAX_TOKENS + 4000]
model.eval()
with torch.no_grad():
    Xs = torch.tensor(held[:-1][:(len(held) - 1) // 4 * 4]).reshape(4, -1)
    Ys = torch.tensor(held[1:][:(len(held) - 1) // 4 * 4]).reshape(4, -1)
    state = model.begin_state(device, batch_size=4)
    total, count = 0.0, 0
    for i in range(0, Xs.shape[1] - num_steps + 1, num_steps):
        out, state = model(Xs[:, i:i + num_steps], state)
        y = Ys[:, i:i + num_steps].T.reshape(-1)
        total += float(F.cross_entropy(out, y, reduction='sum'))
        count += y.numel()
held_out_loss = total / count
counts = np.bincount(np.array(train_iter.corpus), minlength=len(vocab)) + 1.0
unigram_loss = float(-np.log(counts / counts.sum())[Ys[:, :count // 4].reshape(-1).numpy()].mean())
print(f"held-out loss {held_out_loss:.4f} (perplexity {math.exp(held_out_loss):.2f}); unigram {unigram_loss:.4f}")
_harness.report(metric=-held_out_loss, metric_name="minus held-out cross-entropy", chance=-unigram_loss,
                losses=losses)
