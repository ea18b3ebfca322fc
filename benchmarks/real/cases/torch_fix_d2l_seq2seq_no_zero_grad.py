"""d2l-ai/d2l-en, chapter "Recurrent Modern" section seq2seq (PyTorch tab), ``train_seq2seq`` before commit 0a92258
("[PyTorch] Bug fix zero out grad", PR #1689).

Buggy: the training loop never calls ``optimizer.zero_grad()``, so every ``backward`` adds its gradient to the sum of
all earlier ones; ``grad_clipping(net, 1)`` then rescales that running sum and Adam steps along it, so the update
follows the history of the whole run instead of the current minibatch. Fixed, as in the commit:
``optimizer.zero_grad()`` at the top of every batch.

Ported (re-written): the GRU encoder-decoder of the section (Embedding(src, 32) -> 2-layer GRU(32, 32, dropout 0.1);
decoder Embedding(tgt, 32), 2-layer GRU(32 + 32, 32) fed the encoder's last-layer final state as context at every
step, Linear(32, tgt)), Xavier-uniform init of the Linear and GRU weights, the masked softmax cross-entropy loss
(per-token CE times the valid-length mask, averaged over the steps, ``l.sum().backward()``), Adam lr 0.005, the
gradient clipping to norm 1, teacher forcing with <bos>, batch 64, num_steps 10, and d2l's data pipeline
(``preprocess_nmt``, ``tokenize_nmt`` with num_examples=600, vocabularies with min_freq 2 and <unk>, <pad>, <bos>,
<eos>, truncate/pad to 10, shuffled minibatches) plus greedy ``predict_seq2seq`` and ``bleu`` with k=2. fra.txt
becomes ``_data.fra_eng_text``; 60 epochs instead of 300; BLEU is averaged over held-out pairs.
"""

import collections
import math

import _data
import _harness
import torch
from torch import nn

_harness.seed_everything()
device = torch.device("cpu")


# --- the data pipeline of d2l's machine-translation section -------------------------------------------------


def preprocess_nmt(text):
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    chars = []
    for i, ch in enumerate(text):
        if i > 0 and ch in ",.!?" and text[i - 1] != " ":
            chars.append(" ")
        chars.append(ch)
    return "".join(chars)


def tokenize_nmt(lines):
    source, target = [], []
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 2:
            source.append(parts[0].split(" "))
            target.append(parts[1].split(" "))
    return source, target


class Vocab:
    def __init__(self, tokens, min_freq=0, reserved_tokens=()):
        counts = collections.Counter(tok for line in tokens for tok in line)
        by_freq = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
        self.idx_to_token = ["<unk>", *reserved_tokens]
        self.idx_to_token += [t for t, c in by_freq if c >= min_freq and t not in self.idx_to_token]
        self.token_to_idx = {t: i for i, t in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if isinstance(tokens, (list, tuple)):
            return [self.token_to_idx.get(t, 0) for t in tokens]
        return self.token_to_idx.get(tokens, 0)

    def to_tokens(self, indices):
        return [self.idx_to_token[i] for i in indices]


def truncate_pad(line, num_steps, padding_token):
    return line[:num_steps] if len(line) > num_steps else line + [padding_token] * (num_steps - len(line))


def build_array_nmt(lines, vocab, num_steps):
    rows = [truncate_pad(vocab[line] + [vocab["<eos>"]], num_steps, vocab["<pad>"]) for line in lines]
    array = torch.tensor(rows)
    return array, (array != vocab["<pad>"]).int().sum(1)


batch_size, num_steps = 64, 10
all_lines = preprocess_nmt(_data.fra_eng_text(seed=_harness.seed(), n=800)).split("\n")
source, target = tokenize_nmt(all_lines[:601])  # d2l: num_examples=600 (lines 0..600)
test_source, test_target = tokenize_nmt(all_lines[601:])  # held out
reserved = ["<pad>", "<bos>", "<eos>"]
src_vocab = Vocab(source, min_freq=2, reserved_tokens=reserved)
tgt_vocab = Vocab(target, min_freq=2, reserved_tokens=reserved)
src_array, src_valid_len = build_array_nmt(source, src_vocab, num_steps)
tgt_array, tgt_valid_len = build_array_nmt(target, tgt_vocab, num_steps)
dataset = torch.utils.data.TensorDataset(src_array, src_valid_len, tgt_array, tgt_valid_len)
data_iter = torch.utils.data.DataLoader(dataset, batch_size, shuffle=True)


# --- the model ------------------------------------------------------------------------------------------------


class Seq2SeqEncoder(nn.Module):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)

    def forward(self, X, *args):
        X = self.embedding(X).permute(1, 0, 2)  # (num_steps, batch, embed)
        return self.rnn(X)


class Seq2SeqDecoder(nn.Module):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, *args):
        return enc_outputs[1]

    def forward(self, X, state):
        X = self.embedding(X).permute(1, 0, 2)
        context = state[-1].repeat(X.shape[0], 1, 1)
        output, state = self.rnn(torch.cat((X, context), 2), state)
        return self.dense(output).permute(1, 0, 2), state


class EncoderDecoder(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args):
        state = self.decoder.init_state(self.encoder(enc_X, *args), *args)
        return self.decoder(dec_X, state)


def sequence_mask(X, valid_len, value=0):
    keep = torch.arange(X.size(1), dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
    X[~keep] = value
    return X


class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
    def forward(self, pred, label, valid_len):
        weights = sequence_mask(torch.ones_like(label), valid_len)
        self.reduction = "none"
        unweighted = super().forward(pred.permute(0, 2, 1), label)
        return (unweighted * weights).mean(dim=1)


def grad_clipping(net, theta):
    params = [p for p in net.parameters() if p.requires_grad]
    norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
    if norm > theta:
        for p in params:
            p.grad[:] *= theta / norm


def train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device):
    def xavier_init_weights(m):
        if type(m) is nn.Linear:
            nn.init.xavier_uniform_(m.weight)
        if type(m) is nn.GRU:
            for name in m._flat_weights_names:
                if "weight" in name:
                    nn.init.xavier_uniform_(m._parameters[name])

    net.apply(xavier_init_weights)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss = MaskedSoftmaxCELoss()
    net.train()
    losses = []
    for epoch in range(num_epochs):
        total, tokens = 0.0, 0
        for batch in data_iter:
            if not _harness.buggy():  # the bug: the buggy loop never zeroes the gradients
                optimizer.zero_grad()
            X, X_valid_len, Y, Y_valid_len = [x.to(device) for x in batch]
            bos = torch.tensor([tgt_vocab["<bos>"]] * Y.shape[0], device=device).reshape(-1, 1)
            dec_input = torch.cat([bos, Y[:, :-1]], 1)  # teacher forcing
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len)  # noqa: E741
            l.sum().backward()
            grad_clipping(net, 1)
            optimizer.step()
            losses.append(float(l.sum()) / float(Y_valid_len.sum()))
            total += float(l.sum())
            tokens += int(Y_valid_len.sum())
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: loss {total / tokens:.3f}")
    return losses


def predict_seq2seq(net, src_tokens, src_vocab, tgt_vocab, num_steps, device):
    net.eval()
    ids = src_vocab[src_tokens] + [src_vocab["<eos>"]]
    enc_valid_len = torch.tensor([len(ids)], device=device)
    enc_X = torch.tensor(truncate_pad(ids, num_steps, src_vocab["<pad>"]), dtype=torch.long, device=device)[None]
    dec_state = net.decoder.init_state(net.encoder(enc_X, enc_valid_len), enc_valid_len)
    dec_X = torch.tensor([[tgt_vocab["<bos>"]]], dtype=torch.long, device=device)
    out = []
    for _ in range(num_steps):
        Y, dec_state = net.decoder(dec_X, dec_state)
        dec_X = Y.argmax(dim=2)
        token = int(dec_X.squeeze(dim=0).item())
        if token == tgt_vocab["<eos>"]:
            break
        out.append(token)
    return " ".join(tgt_vocab.to_tokens(out))


def bleu(pred_seq, label_seq, k):
    pred, label = pred_seq.split(" "), label_seq.split(" ")
    if not pred_seq or len(pred) < k:  # too short to have k-grams (d2l would divide by zero)
        return 0.0
    score = math.exp(min(0.0, 1 - len(label) / len(pred)))
    for n in range(1, k + 1):
        grams = collections.Counter(" ".join(label[i:i + n]) for i in range(len(label) - n + 1))
        matches = 0
        for i in range(len(pred) - n + 1):
            gram = " ".join(pred[i:i + n])
            if grams[gram] > 0:
                matches += 1
                grams[gram] -= 1
        score *= math.pow(matches / (len(pred) - n + 1), math.pow(0.5, n))
    return score


embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1
lr, num_epochs = 0.005, 60
encoder = Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
decoder = Seq2SeqDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout)
net = EncoderDecoder(encoder, decoder)
losses = train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device)

with torch.no_grad():
    scores = [bleu(predict_seq2seq(net, eng, src_vocab, tgt_vocab, num_steps, device), " ".join(fra), k=2)
              for eng, fra in zip(test_source, test_target, strict=True)]
for eng, fra in list(zip(test_source, test_target, strict=True))[:3]:
    print(" ".join(eng), "=>", predict_seq2seq(net, eng, src_vocab, tgt_vocab, num_steps, device), "|", " ".join(fra))
_harness.report(metric=sum(scores) / len(scores), metric_name="BLEU-2 (held-out pairs)", chance=0.0, losses=losses)
