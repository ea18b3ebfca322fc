"""pytorch/examples `word_language_model/main.py` (+ `model.py`, `data.py`) run as its README's
`--model Transformer --use-optimizer --lr 0.001`.

Ported (re-written to the same model, loss, optimizer and loop): `TransformerModel` subclasses
`nn.Transformer(d_model=200, nhead=2, dim_feedforward=200, num_encoder_layers=2)` (so its encoder layers
keep nn.Transformer's own dropout 0.1 and xavier init, and its unused 6-layer decoder exists), adds an
embedding scaled by sqrt(200), sinusoidal positional encoding with dropout 0.2, the causal float mask
`log(tril(ones))`, a linear decoder (uniform +-0.1 init) and `log_softmax` in `forward()`; loss
`nn.NLLLoss`, AdamW lr 0.001, gradient-norm clipping 0.25, truncated sequences of 35 tokens, batch 20.
Wikitext-2 becomes the local English text stand-in (`_data.text_splits`, same word-level tokenization
with `<eos>` per line); 1 epoch instead of 6; the best model (kept in memory instead of model.pt) is
scored on the test split; no checkpoint, ONNX export or accelerator.
"""

import argparse
import copy
import math

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
    """The example's `data.Corpus`, reading three strings instead of train/valid/test.txt."""

    def __init__(self, train, valid, test):
        self.dictionary = Dictionary()
        self.train = self.tokenize(train)
        self.valid = self.tokenize(valid)
        self.test = self.tokenize(test)

    def tokenize(self, text):
        lines = text.splitlines()
        for line in lines:
            for word in line.split() + ["<eos>"]:
                self.dictionary.add_word(word)
        ids = [torch.tensor([self.dictionary.word2idx[w] for w in line.split() + ["<eos>"]], dtype=torch.int64)
               for line in lines]
        return torch.cat(ids)


class PositionalEncoding(nn.Module):
    """Sinusoidal position encodings added to (seq, batch, dim) inputs, then dropout."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x):
        return self.dropout(x + self.pe[:x.size(0), :])


class TransformerModel(nn.Transformer):
    """Container module with an encoder, a transformer module, and a decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = self._generate_square_subsequent_mask(len(src)).to(src.device)
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def main():
    parser = argparse.ArgumentParser(description="PyTorch Wikitext-2 Transformer Language Model")
    parser.add_argument("--model", type=str, default="Transformer")
    parser.add_argument("--emsize", type=int, default=200)
    parser.add_argument("--nhid", type=int, default=200)
    parser.add_argument("--nlayers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=20)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--nhead", type=int, default=2)
    parser.add_argument("--use-optimizer", action="store_true", default=True)
    parser.add_argument("--log-interval", type=int, default=20)
    args = parser.parse_args()
    _harness.seed_everything()

    corpus = Corpus(*_data.text_splits())
    eval_batch_size = 10
    train_data = batchify(corpus.train, args.batch_size)
    val_data = batchify(corpus.valid, eval_batch_size)
    test_data = batchify(corpus.test, eval_batch_size)
    ntokens = len(corpus.dictionary)
    model = TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers, args.dropout)
    criterion = nn.NLLLoss()
    if args.use_optimizer:
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)

    def get_batch(source, i):
        seq_len = min(args.bptt, len(source) - 1 - i)
        return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)

    def evaluate(data_source):
        model.eval()
        total_loss = 0.0
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, args.bptt):
                data, targets = get_batch(data_source, i)
                output = model(data).view(-1, ntokens)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    losses = []

    def train(epoch, lr):
        model.train()
        for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
            data, targets = get_batch(train_data, i)
            if args.use_optimizer:
                optimizer.zero_grad()
            else:
                model.zero_grad()
            output = model(data).view(-1, ntokens)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            if args.use_optimizer:
                optimizer.step()
            else:
                for p in model.parameters():
                    p.data.add_(p.grad, alpha=-lr)
            losses.append(loss.item())
            if batch % args.log_interval == 0 and batch > 0:
                print(f"| epoch {epoch:3d} | {batch:5d}/{len(train_data) // args.bptt:5d} batches | lr {lr:02.2f} | "
                      f"loss {loss.item():5.2f}")

    lr = args.lr
    best_val_loss = None
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(1, args.epochs + 1):
        train(epoch, lr)
        val_loss = evaluate(val_data)
        print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | valid ppl {math.exp(val_loss):8.2f}")
        if not best_val_loss or val_loss < best_val_loss:
            best_state = copy.deepcopy(model.state_dict())  # the example saves the best model to model.pt
            best_val_loss = val_loss
        else:
            lr /= 4.0  # (only the hand-written SGD step reads lr)
    model.load_state_dict(best_state)
    test_loss = evaluate(test_data)
    print(f"| End of training | test loss {test_loss:5.2f} | test ppl {math.exp(test_loss):8.2f}")
    _harness.report(metric=-test_loss, metric_name="minus test loss", chance=-math.log(ntokens), losses=losses)


if __name__ == "__main__":
    main()
