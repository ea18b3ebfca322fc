"""karpathy/nn-zero-to-hero `lectures/makemore/makemore_part2_mlp.ipynb`: the MLP character-level language
model (Bengio et al. 2003) trained on names, with every tensor handled by hand.

Ported (re-written with the same data processing, model, loss, update and loop): the vocabulary is the 26
letters plus '.' (index 0) as start/end token; contexts of ``block_size`` 3 characters predict the next one;
the words are shuffled with ``random.seed(42)`` and split 80% / 10% / 10%; the parameters are plain tensors
drawn from ``torch.Generator().manual_seed(2147483647)``: the embedding table ``C`` (27 x 10), ``W1``
(30 x 200), ``b1`` (200), ``W2`` (200 x 27), ``b2`` (27), all ``randn``, then ``requires_grad = True``;
each step samples a minibatch of 32 contexts with ``torch.randint``, computes ``tanh(C[X].view(-1, 30) @ W1
+ b1) @ W2 + b2`` and ``F.cross_entropy``, sets ``p.grad = None`` for every parameter, calls
``loss.backward()`` and updates ``p.data += -lr * p.grad`` with lr 0.1 for the first half of the steps and
0.01 after. The notebook prints the loss on the whole training and dev splits; the reported measure is
minus the dev loss, and its chance level minus the cross-entropy of the dev characters under the training
split's character frequencies (a model that ignores the context).

names.txt (32,033 names) cannot be downloaded: ``names`` below generates as many distinct lowercase
name-like words from syllables (onset, vowel, optional coda, optional ending), in which every letter a..z
occurs.
"""

import math
import random

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812

_harness.seed_everything()

# read in all the words
words = _data.names_txt(_harness.seed())
print(len(words), words[:8])

# the vocabulary of characters and the mappings to / from integers
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}

block_size = 3  # context length: how many characters predict the next one


def build_dataset(words):
    X, Y = [], []  # noqa: N806
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]  # crop and append
    X = torch.tensor(X)  # noqa: N806
    Y = torch.tensor(Y)  # noqa: N806
    print(X.shape, Y.shape)
    return X, Y


random.seed(42)
random.shuffle(words)
n1 = int(0.8 * len(words))
n2 = int(0.9 * len(words))
Xtr, Ytr = build_dataset(words[:n1])
Xdev, Ydev = build_dataset(words[n1:n2])
Xte, Yte = build_dataset(words[n2:])

g = torch.Generator().manual_seed(2147483647)  # for reproducibility
C = torch.randn((27, 10), generator=g)
W1 = torch.randn((30, 200), generator=g)
b1 = torch.randn(200, generator=g)
W2 = torch.randn((200, 27), generator=g)
b2 = torch.randn(27, generator=g)
parameters = [C, W1, b1, W2, b2]
print(sum(p.nelement() for p in parameters), "parameters")
for p in parameters:
    p.requires_grad = True

steps = 20000
losses = []
for i in range(steps):
    # minibatch construct
    ix = torch.randint(0, Xtr.shape[0], (32,))

    # forward pass
    emb = C[Xtr[ix]]  # (32, 3, 10)
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 200)
    logits = h @ W2 + b2  # (32, 27)
    loss = F.cross_entropy(logits, Ytr[ix])

    # backward pass
    for p in parameters:
        p.grad = None
    loss.backward()

    # update
    lr = 0.1 if i < steps // 2 else 0.01
    for p in parameters:
        p.data += -lr * p.grad

    losses.append(loss.item())


@torch.no_grad()
def split_loss(X, Y):  # noqa: N803
    emb = C[X]
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
    logits = h @ W2 + b2
    return F.cross_entropy(logits, Y).item()


train_loss, dev_loss = split_loss(Xtr, Ytr), split_loss(Xdev, Ydev)
print(f"train loss {train_loss:.4f}, dev loss {dev_loss:.4f}")

# chance: every next character predicted from the training split's character frequencies
freq = torch.bincount(Ytr, minlength=27).double() + 1.0
unigram_loss = float(-(freq / freq.sum()).log()[Ydev].mean())
print(f"unigram dev loss {unigram_loss:.4f} (uniform {math.log(27):.4f})")
_harness.report(metric=-dev_loss, metric_name="minus dev cross-entropy", chance=-unigram_loss, losses=losses)
