"""pytorch/examples `word_language_model` before PR #732 (issue #734): an LSTM language model whose decoder
returns raw scores while the loss is `nn.NLLLoss`, so the "loss" is minus the target's raw score, unbounded
below (the issue reports a negative loss and a perplexity of 0).

Ported (re-written to the same model, loss, optimizer and loop): 2-layer LSTM with dropout, embedding and
decoder initialized uniform(-0.1, 0.1), `nn.NLLLoss`, plain SGD done by hand (`p.data.add_(grad, -lr)`) at
lr 20 after `clip_grad_norm_(0.25)`, bptt 35, batch 20, lr / 4 when the validation loss does not improve.
The fix (PR #732) makes `RNNModel.forward` return `F.log_softmax` of the flattened decoder output. WikiText-2
becomes local English prose (words seen fewer than 3 times -> `<unk>`, as WikiText-2 does), the model is a
tiny config (64-wide) and trains 3 epochs. The reported measure is minus the held-out cross-entropy of the
decoder output (the program's own validation loss for the fixed variant).
"""

import math
import time
from collections import Counter

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    """The example's line-by-line tokenization (`<eos>` after every line) over the local text splits."""

    def __init__(self, min_count=3):
        train, valid, test = _data.text_splits()
        counts = Counter(train.split())
        self.keep = {w for w, c in counts.items() if c >= min_count}
        self.dictionary = Dictionary()
        self.dictionary.add_word("<unk>")
        self.train = self.tokenize(train)
        self.valid = self.tokenize(valid)
        self.test = self.tokenize(test)

    def tokenize(self, text):
        ids = []
        for line in text.splitlines():
            for word in line.split() + ["<eos>"]:
                word = word if (word in self.keep or word == "<eos>") else "<unk>"
                ids.append(self.dictionary.add_word(word))
        return torch.tensor(ids, dtype=torch.int64)


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        self.encoder.weight.data.uniform_(-initrange, initrange)
        self.decoder.bias.data.zero_()
        self.decoder.weight.data.uniform_(-initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        if _harness.buggy():  # the bug: raw decoder scores go to nn.NLLLoss
            return decoded, hidden
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def main():
    args = dict(emsize=64, nhid=64, nlayers=2, lr=20.0, clip=0.25, epochs=3, batch_size=20, bptt=35,
                dropout=0.2, log_interval=20)
    _harness.seed_everything()
    corpus = Corpus()
    eval_batch_size = 10
    train_data = batchify(corpus.train, args["batch_size"])
    val_data = batchify(corpus.valid, eval_batch_size)
    ntokens = len(corpus.dictionary)
    model = RNNModel("LSTM", ntokens, args["emsize"], args["nhid"], args["nlayers"], args["dropout"])
    criterion = nn.NLLLoss()
    bptt = args["bptt"]
    losses = []

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)

    def evaluate(data_source):
        model.eval()
        total_loss, total_xent = 0.0, 0.0
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                output_flat = output.view(-1, ntokens)
                total_loss += len(data) * criterion(output_flat, targets).item()
                total_xent += len(data) * F.cross_entropy(output_flat, targets).item()
        return total_loss / (len(data_source) - 1), total_xent / (len(data_source) - 1)

    def train(epoch, lr):
        model.train()
        total_loss = 0.0
        start_time = time.time()
        hidden = model.init_hidden(args["batch_size"])
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            hidden = repackage_hidden(hidden)
            model.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output.view(-1, ntokens), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args["clip"])
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            total_loss += loss.item()
            losses.append(loss.item())
            if batch % args["log_interval"] == 0 and batch > 0:
                cur_loss = total_loss / args["log_interval"]
                print(f"| epoch {epoch:3d} | {batch:5d}/{len(train_data) // bptt:5d} batches | lr {lr:02.2f} | "
                      f"ms/batch {(time.time() - start_time) * 1000 / args['log_interval']:5.2f} | "
                      f"loss {cur_loss:5.2f}")
                total_loss = 0.0
                start_time = time.time()

    lr = args["lr"]
    best_val_loss = None
    val_xent = float("nan")
    for epoch in range(1, args["epochs"] + 1):
        train(epoch, lr)
        val_loss, val_xent = evaluate(val_data)
        print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | valid cross-entropy {val_xent:5.2f}")
        if best_val_loss is None or val_loss < best_val_loss:
            best_val_loss = val_loss
        else:
            lr /= 4.0
    _harness.report(metric=-val_xent, metric_name="minus validation cross-entropy",
                    chance=-math.log(ntokens), losses=losses)


if __name__ == "__main__":
    main()
