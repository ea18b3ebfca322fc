"""karpathy/makemore `makemore.py --type rnn` before commit bf38625 ("Fix bug in RNN where hprev always referred
to start. Change so that hprev refers to output of previous cell", PR #3).

Buggy: ``RNN.forward`` sets ``hprev = self.start.expand((b, -1))`` and then, for every time step, computes
``ht = self.cell(xt, hprev)`` without ever assigning ``hprev = ht``: every step starts again from the learned
start state, so the "recurrent" model sees only the current character and is a bigram model in disguise.
Fixed, as in the commit: ``hprev = ht`` after each cell call.

Ported (re-written with the same data processing, model, loss, optimizer and loop): ``CharDataset`` (index 0
is the start / end token, x = [0, word], y = [word, 0, -1 ...] with -1 masked by ``ignore_index``), the test
split of min(1000, 10%) words from ``torch.randperm``, ``RNN`` with ``RNNCell`` (``tanh(Linear(cat[x_t,
h_{t-1}]))``), a learned zero ``start`` state, ``nn.Embedding(vocab, n_embd)``, ``lm_head``, n_embd = n_embd2 =
64, ``F.cross_entropy(..., ignore_index=-1)``, AdamW(lr 5e-4, weight_decay 0.01, betas (0.9, 0.99), eps 1e-8),
batch 32 from an infinite random sampler with replacement, ``model.zero_grad(set_to_none=True)``, backward,
step. names.txt (32,033 names) cannot be downloaded: ``names`` below (the generator of the
torch_karpathy_makemore_mlp case) draws as many distinct name-like words from syllables. ``--max-steps -1``
(train until stopped) becomes 2,000 steps; the tensorboard writer, checkpointing and sampling go; the seed
comes from the benchmark instead of 3407; num_workers 0. The script prints the train / test loss every 500
steps as ``evaluate`` does (10 batches of 100); the reported measure is minus the loss on the whole test
split, and its chance level minus the cross-entropy of the test targets under the training split's
character frequencies.
"""

import _data
import _harness
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, Dataset

MAX_STEPS = 2000  # makemore: --max-steps -1 (until stopped)

_harness.seed_everything()

class CharDataset(Dataset):

    def __init__(self, words, chars, max_word_length):
        self.words = words
        self.chars = chars
        self.max_word_length = max_word_length
        self.stoi = {ch: i + 1 for i, ch in enumerate(chars)}
        self.itos = {i: s for s, i in self.stoi.items()}

    def __len__(self):
        return len(self.words)

    def get_vocab_size(self):
        return len(self.chars) + 1

    def get_output_length(self):
        return self.max_word_length + 1

    def encode(self, word):
        return torch.tensor([self.stoi[w] for w in word], dtype=torch.long)

    def __getitem__(self, idx):
        word = self.words[idx]
        ix = self.encode(word)
        x = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        y = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        x[1:1 + len(ix)] = ix
        y[:len(ix)] = ix
        y[len(ix) + 1:] = -1  # index -1 will mask the loss at the inactive locations
        return x, y


def create_datasets(words):
    words = [w.strip() for w in words]
    words = [w for w in words if w]
    chars = sorted(set(''.join(words)))
    max_word_length = max(len(w) for w in words)
    test_set_size = min(1000, int(len(words) * 0.1))
    rp = torch.randperm(len(words)).tolist()
    train_words = [words[i] for i in rp[:-test_set_size]]
    test_words = [words[i] for i in rp[-test_set_size:]]
    print(f"split up the dataset into {len(train_words)} training examples and {len(test_words)} test examples")
    return CharDataset(train_words, chars, max_word_length), CharDataset(test_words, chars, max_word_length)


class InfiniteDataLoader:

    def __init__(self, dataset, **kwargs):
        train_sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=int(1e10))
        self.train_loader = DataLoader(dataset, sampler=train_sampler, **kwargs)
        self.data_iter = iter(self.train_loader)

    def next(self):
        try:
            batch = next(self.data_iter)
        except StopIteration:
            self.data_iter = iter(self.train_loader)
            batch = next(self.data_iter)
        return batch


class RNNCell(nn.Module):

    def __init__(self, n_embd, n_embd2):
        super().__init__()
        self.xh_to_h = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, xt, hprev):
        xh = torch.cat([xt, hprev], dim=1)
        return F.tanh(self.xh_to_h(xh))


class RNN(nn.Module):

    def __init__(self, vocab_size, block_size, n_embd=64, n_embd2=64):
        super().__init__()
        self.block_size = block_size
        self.vocab_size = vocab_size
        self.start = nn.Parameter(torch.zeros(1, n_embd2))  # the starting hidden state
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.cell = RNNCell(n_embd, n_embd2)
        self.lm_head = nn.Linear(n_embd2, self.vocab_size)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        emb = self.wte(idx)
        hprev = self.start.expand((b, -1))
        hiddens = []
        for i in range(t):
            xt = emb[:, i, :]
            ht = self.cell(xt, hprev)
            if not _harness.buggy():  # the bug: hprev is never advanced, every step restarts from `start`
                hprev = ht
            hiddens.append(ht)
        hidden = torch.stack(hiddens, 1)
        logits = self.lm_head(hidden)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


@torch.inference_mode()
def evaluate(model, dataset, batch_size=50, max_batches=None):
    model.eval()
    loader = DataLoader(dataset, shuffle=True, batch_size=batch_size, num_workers=0)
    losses = []
    for i, (X, Y) in enumerate(loader):
        _, loss = model(X, Y)
        losses.append(loss.item())
        if max_batches is not None and i >= max_batches:
            break
    mean_loss = torch.tensor(losses).mean().item()
    model.train()
    return mean_loss


train_dataset, test_dataset = create_datasets(_data.names_txt(_harness.seed()))
vocab_size = train_dataset.get_vocab_size()
block_size = train_dataset.get_output_length()
print(f"dataset determined that: {vocab_size=}, {block_size=}")

model = RNN(vocab_size, block_size, n_embd=64, n_embd2=64)
print(f"model #params: {sum(p.numel() for p in model.parameters())}")
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
batch_loader = InfiniteDataLoader(train_dataset, batch_size=32, num_workers=0)

losses = []
for step in range(MAX_STEPS):
    X, Y = batch_loader.next()
    logits, loss = model(X, Y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step > 0 and step % 500 == 0:
        train_loss = evaluate(model, train_dataset, batch_size=100, max_batches=10)
        test_loss = evaluate(model, test_dataset, batch_size=100, max_batches=10)
        print(f"step {step} train loss: {train_loss} test loss: {test_loss}")

# whole test split, token-weighted
model.eval()
with torch.no_grad():
    X = torch.stack([test_dataset[i][0] for i in range(len(test_dataset))])
    Y = torch.stack([test_dataset[i][1] for i in range(len(test_dataset))])
    _, test_loss = model(X, Y)
# the training targets: every character of every word, then the end token 0
counts = np.bincount([train_dataset.stoi[ch] for w in train_dataset.words for ch in w] + [0] * len(train_dataset),
                     minlength=vocab_size) + 1.0
unigram = float(-np.log(counts / counts.sum())[Y[Y >= 0].numpy()].mean())
print(f"test loss {test_loss.item():.4f} (unigram {unigram:.4f})")
_harness.report(metric=-test_loss.item(), metric_name="minus test loss", chance=-unigram, losses=losses)
