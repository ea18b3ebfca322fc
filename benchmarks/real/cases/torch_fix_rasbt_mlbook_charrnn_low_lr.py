"""rasbt/machine-learning-book `ch15/ch15_part3.py` ("Building a character-level RNN model", Python Machine
Learning with PyTorch and Scikit-Learn, chapter 15) before commit f91772a ("increase learning rate to improve
results"; ERRATA, page 532: "The learning rate (lr=0.001) is too low here. If we change it to lr=0.005 we can
get much better results.").

Buggy: the character-level LSTM is trained with ``torch.optim.Adam(model.parameters(), lr=0.001)``, too low
for its budget of iterations: the loss falls slowly and the model ends far worse than it could. Fixed, as in
the commit: ``lr=0.005``.

Ported (re-written with the same model, loss, optimizer and loop): the text is encoded by its sorted character
set; every window of 41 characters is a chunk (``seq_length = 40`` inputs, the 40 next characters as targets);
``DataLoader(batch_size=64, shuffle=True, drop_last=True)``; ``RNN``: ``nn.Embedding(vocab_size, 256)``, a
one-layer ``nn.LSTM(256, 512, batch_first=True)`` fed one character at a time (``unsqueeze(1)``) from zero
``init_hidden`` states, and ``nn.Linear(512, vocab_size)``; ``nn.CrossEntropyLoss()`` summed over the 40
positions, ``zero_grad`` / ``backward`` / ``step``, each "epoch" one batch from a fresh ``next(iter(seq_dl))``.
Changes: the Mysterious Island download (Project Gutenberg 1268) becomes English prose from
``_data.text_corpus()`` (the first 100,000 characters to train on, the next 20,000 held out); embedding 64
and LSTM hidden size 128 instead of 256 / 512 (same layers); 300 iterations instead of 10,000 (both
variants); no GPU; ``torch.manual_seed(1)`` calls -> the benchmark's seed; the sampling demonstrations go. Measure: minus the per-character
cross-entropy on 512 held-out windows (the same teacher-forced loss as in training); chance: minus the
held-out cross-entropy of the training text's unigram character frequencies.
"""

import _data
import _harness
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

NUM_ITERATIONS = 300  # the book: num_epochs = 10000 single-batch iterations

_harness.seed_everything()

corpus = _data.text_corpus()
text, held_out = corpus[:100_000], corpus[100_000:120_000]
char_set = set(text) | set(held_out)
chars_sorted = sorted(char_set)
char2int = {ch: i for i, ch in enumerate(chars_sorted)}
char_array = np.array(chars_sorted)
text_encoded = np.array([char2int[ch] for ch in text], dtype=np.int32)

seq_length = 40
chunk_size = seq_length + 1
text_chunks = np.lib.stride_tricks.sliding_window_view(text_encoded, chunk_size)[:len(text_encoded) - chunk_size]


class TextDataset(Dataset):
    def __init__(self, text_chunks):
        self.text_chunks = text_chunks

    def __len__(self):
        return len(self.text_chunks)

    def __getitem__(self, idx):
        text_chunk = self.text_chunks[idx]
        return text_chunk[:-1].long(), text_chunk[1:].long()


seq_dataset = TextDataset(torch.tensor(np.ascontiguousarray(text_chunks)))
batch_size = 64
seq_dl = DataLoader(seq_dataset, batch_size=batch_size, shuffle=True, drop_last=True)


class RNN(nn.Module):
    def __init__(self, vocab_size, embed_dim, rnn_hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn_hidden_size = rnn_hidden_size
        self.rnn = nn.LSTM(embed_dim, rnn_hidden_size, batch_first=True)
        self.fc = nn.Linear(rnn_hidden_size, vocab_size)

    def forward(self, x, hidden, cell):
        out = self.embedding(x).unsqueeze(1)
        out, (hidden, cell) = self.rnn(out, (hidden, cell))
        out = self.fc(out).reshape(out.size(0), -1)
        return out, hidden, cell

    def init_hidden(self, batch_size):
        hidden = torch.zeros(1, batch_size, self.rnn_hidden_size)
        cell = torch.zeros(1, batch_size, self.rnn_hidden_size)
        return hidden, cell


vocab_size = len(char_array)
embed_dim = 64  # the book: 256
rnn_hidden_size = 128  # the book: 512
model = RNN(vocab_size, embed_dim, rnn_hidden_size)

loss_fn = nn.CrossEntropyLoss()
lr = 0.001 if _harness.buggy() else 0.005  # the bug: too low a learning rate
optimizer = torch.optim.Adam(model.parameters(), lr=lr)

losses = []
for epoch in range(NUM_ITERATIONS):
    hidden, cell = model.init_hidden(batch_size)
    seq_batch, target_batch = next(iter(seq_dl))
    optimizer.zero_grad()
    loss = 0
    for c in range(seq_length):
        pred, hidden, cell = model(seq_batch[:, c], hidden, cell)
        loss += loss_fn(pred, target_batch[:, c])
    loss.backward()
    optimizer.step()
    loss = loss.item() / seq_length
    losses.append(loss)
    if epoch % 50 == 0:
        print(f"Epoch {epoch} loss: {loss:.4f}")

# held-out measure: the same teacher-forced per-character loss on windows of unseen text
held_encoded = np.array([char2int[ch] for ch in held_out], dtype=np.int64)
rng = np.random.default_rng(_harness.seed())
starts = rng.choice(len(held_encoded) - chunk_size, size=512, replace=False)
held_chunks = torch.from_numpy(np.stack([held_encoded[s:s + chunk_size] for s in starts]))
model.eval()
with torch.no_grad():
    hidden, cell = model.init_hidden(len(held_chunks))
    total = 0.0
    for c in range(seq_length):
        pred, hidden, cell = model(held_chunks[:, c], hidden, cell)
        total += float(loss_fn(pred, held_chunks[:, c + 1]))
held_out_loss = total / seq_length
counts = np.bincount(text_encoded, minlength=vocab_size) + 1.0
unigram_loss = float(-np.log(counts / counts.sum())[held_chunks[:, 1:].numpy()].mean())
print(f"held-out loss {held_out_loss:.4f} (unigram {unigram_loss:.4f})")
_harness.report(metric=-held_out_loss, metric_name="minus held-out cross-entropy", chance=-unigram_loss,
                losses=losses)
