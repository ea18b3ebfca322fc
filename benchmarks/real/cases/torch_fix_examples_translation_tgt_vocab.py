"""pytorch/examples `language_translation` (`main.py`, `src/data.py`, `src/model.py`) before commit 3ddcc89
("fix typo which make tgt tensor data wrong", #1356).

Buggy: ``get_data`` builds both vocabularies with ``_yield_tokens(train_iterator, tokenizer, src_lang)`` /
``(..., tgt_lang)``; the third argument is meant to be a flag "use the source side", but a language code is a
non-empty string, so both calls read the source sentences: the target vocabulary holds source-language words,
almost every target token maps to ``<unk>``, and the Transformer learns to emit ``<unk>``. The loss looks
fine; the translations are empty. Fixed, as in the commit: ``True`` for the source vocabulary, ``False`` for
the target one.

Ported (re-written with the same model, loss, optimizer and loop): ``Translator`` (token embeddings, sinusoidal
``PositionalEncoding`` with dropout, ``nn.Transformer`` with sequence-first tensors, a Linear head, Xavier-
uniform init of every matrix), ``create_mask`` (causal target mask, padding masks), ``CrossEntropyLoss(
ignore_index=<pad>)``, Adam(lr 1e-4, betas (0.9, 0.98), eps 1e-9), batch 128 without shuffling, teacher
forcing (``tgt[:-1]`` in, ``tgt[1:]`` out), ``validate`` in eval mode and the inference mode's
``greedy_decode`` (max length = source tokens + 5). Multi30k (de -> en) with spaCy tokenizers becomes the
local English -> French stand-in ``_data.fra_eng_text`` with a rule tokenizer that splits off punctuation;
the vocabularies are built as ``build_vocab_from_iterator(min_freq=1, specials first)`` does. Model and
run shrunk; see the TOML's ``changes``. The reported measure is the BLEU-2 of the greedy translations of the
held-out pairs.
"""

import collections
import math
import re

import _data
import _harness
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

SPECIALS = {"<unk>": 0, "<pad>": 1, "<bos>": 2, "<eos>": 3}


def tokenizer(text):  # stands in for spaCy: words and punctuation marks as separate tokens
    return re.findall(r"[\w']+|[^\w\s]", text)


def yield_tokens(pairs, tokenize, src):
    index = 0 if src else 1
    for pair in pairs:
        yield tokenize(pair[index])


class Vocab:  # torchtext.vocab.build_vocab_from_iterator(min_freq=1, specials=..., special_first=True)
    def __init__(self, token_lists):
        counter = collections.Counter(tok for tokens in token_lists for tok in tokens)
        ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        self.itos = list(SPECIALS) + [tok for tok, _ in ordered if tok not in SPECIALS]
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def __call__(self, tokens):
        return [self.stoi.get(tok, SPECIALS["<unk>"]) for tok in tokens]

    def lookup_tokens(self, ids):
        return [self.itos[i] for i in ids]


def get_data(train_pairs, valid_pairs, batch):
    if _harness.buggy():  # the bug: language codes where a "source side?" flag is expected
        src_vocab = Vocab(yield_tokens(train_pairs, tokenizer, "en"))
        tgt_vocab = Vocab(yield_tokens(train_pairs, tokenizer, "fr"))  # a non-empty string: the source side
    else:
        src_vocab = Vocab(yield_tokens(train_pairs, tokenizer, True))
        tgt_vocab = Vocab(yield_tokens(train_pairs, tokenizer, False))

    def tensor_transform(ids):
        return torch.cat((torch.tensor([SPECIALS["<bos>"]]), torch.tensor(ids), torch.tensor([SPECIALS["<eos>"]])))

    def src_transform(text):
        return tensor_transform(src_vocab(tokenizer(text)))

    def tgt_transform(text):
        return tensor_transform(tgt_vocab(tokenizer(text)))

    def collate_fn(samples):
        src_batch = [src_transform(s.rstrip("\n")) for s, _ in samples]
        tgt_batch = [tgt_transform(t.rstrip("\n")) for _, t in samples]
        return (pad_sequence(src_batch, padding_value=SPECIALS["<pad>"]),
                pad_sequence(tgt_batch, padding_value=SPECIALS["<pad>"]))

    train_dl = torch.utils.data.DataLoader(train_pairs, batch_size=batch, collate_fn=collate_fn)
    valid_dl = torch.utils.data.DataLoader(valid_pairs, batch_size=batch, collate_fn=collate_fn)
    return train_dl, valid_dl, src_vocab, tgt_vocab, src_transform


def generate_square_subsequent_mask(size):
    mask = (torch.triu(torch.ones((size, size))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)


def create_mask(src, tgt, pad_idx):
    tgt_mask = generate_square_subsequent_mask(tgt.shape[0])
    src_mask = torch.zeros((src.shape[0], src.shape[0])).type(torch.bool)
    return src_mask, tgt_mask, (src == pad_idx).transpose(0, 1), (tgt == pad_idx).transpose(0, 1)


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size, dropout, maxlen=5000):
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        table = torch.zeros((maxlen, emb_size))
        table[:, 0::2] = torch.sin(pos * den)
        table[:, 1::2] = torch.cos(pos * den)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", table.unsqueeze(-2))

    def forward(self, token_embedding):
        return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])


class Translator(nn.Module):
    def __init__(self, num_encoder_layers, num_decoder_layers, embed_size, num_heads, src_vocab_size,
                 tgt_vocab_size, dim_feedforward, dropout):
        super().__init__()
        self.src_embedding = nn.Embedding(src_vocab_size, embed_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embed_size)
        self.pos_enc = PositionalEncoding(embed_size, dropout)
        self.transformer = nn.Transformer(d_model=embed_size, nhead=num_heads, num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                          dropout=dropout)
        self.ff = nn.Linear(embed_size, tgt_vocab_size)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, memory_key_padding_mask):
        src_emb = self.pos_enc(self.src_embedding(src))
        tgt_emb = self.pos_enc(self.tgt_embedding(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None, src_padding_mask, tgt_padding_mask,
                                memory_key_padding_mask)
        return self.ff(outs)

    def encode(self, src, src_mask):
        return self.transformer.encoder(self.pos_enc(self.src_embedding(src)), src_mask)

    def decode(self, tgt, memory, tgt_mask):
        return self.transformer.decoder(self.pos_enc(self.tgt_embedding(tgt)), memory, tgt_mask)


def greedy_decode(model, src, src_mask, max_len, start_symbol, end_symbol):
    memory = model.encode(src, src_mask)
    ys = torch.ones(1, 1).fill_(start_symbol).type(torch.long)
    for _ in range(max_len - 1):
        tgt_mask = generate_square_subsequent_mask(ys.size(0)).type(torch.bool)
        out = model.decode(ys, memory, tgt_mask).transpose(0, 1)
        next_word = int(torch.max(model.ff(out[:, -1]), dim=1)[1].item())
        ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=0)
        if next_word == end_symbol:
            break
    return ys


def train(model, train_dl, loss_fn, optim, losses):
    total = 0.0
    model.train()
    for src, tgt in train_dl:
        tgt_input = tgt[:-1, :]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input, SPECIALS["<pad>"])
        logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, src_padding_mask)
        optim.zero_grad()
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[1:, :].reshape(-1))
        loss.backward()
        optim.step()
        total += loss.item()
        losses.append(loss.item())
    return total / len(train_dl)


@torch.no_grad()
def validate(model, valid_dl, loss_fn):
    total = 0.0
    model.eval()
    for src, tgt in valid_dl:
        tgt_input = tgt[:-1, :]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input, SPECIALS["<pad>"])
        logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, src_padding_mask)
        total += loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[1:, :].reshape(-1)).item()
    return total / len(valid_dl)


def bleu(pred_tokens, label_tokens, k=2):
    """BLEU with n-grams up to k (uniform weights) and the brevity penalty, for one sentence."""
    if len(pred_tokens) < k:
        return 0.0
    score = math.exp(min(0.0, 1 - len(label_tokens) / len(pred_tokens)))
    for n in range(1, k + 1):
        label_ngrams = collections.Counter(tuple(label_tokens[i:i + n]) for i in range(len(label_tokens) - n + 1))
        pred_ngrams = collections.Counter(tuple(pred_tokens[i:i + n]) for i in range(len(pred_tokens) - n + 1))
        matches = sum(min(c, label_ngrams[g]) for g, c in pred_ngrams.items())
        score *= (matches / max(1, len(pred_tokens) - n + 1)) ** (1.0 / k)
    return score


@torch.no_grad()
def translate(model, sentence, src_transform, tgt_vocab):  # the inference mode, for one sentence
    model.eval()
    src = src_transform(sentence).view(-1, 1)
    num_tokens = src.shape[0]
    src_mask = torch.zeros(num_tokens, num_tokens).type(torch.bool)
    tokens = greedy_decode(model, src, src_mask, max_len=num_tokens + 5, start_symbol=SPECIALS["<bos>"],
                           end_symbol=SPECIALS["<eos>"]).flatten()
    words = tgt_vocab.lookup_tokens(tokens.tolist())
    return " ".join(words).replace("<bos>", "").replace("<eos>", "").split()


def main():
    epochs, lr, batch = 20, 1e-4, 128
    attn_heads, enc_layers, dec_layers, embed_size, dim_feedforward, dropout = 8, 1, 1, 128, 128, 0.1
    _harness.seed_everything()
    lines = _data.fra_eng_text(seed=_harness.seed(), n=3000).strip().split("\n")
    pairs = [tuple(line.split("\t")) for line in lines]
    train_pairs, valid_pairs = pairs[:2800], pairs[2800:]
    train_dl, valid_dl, src_vocab, tgt_vocab, src_transform = get_data(train_pairs, valid_pairs, batch)
    print(f"en vocab size: {len(src_vocab)}, fr vocab size: {len(tgt_vocab)}")
    model = Translator(enc_layers, dec_layers, embed_size, attn_heads, len(src_vocab), len(tgt_vocab),
                       dim_feedforward, dropout)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=SPECIALS["<pad>"])
    optim = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    losses = []
    for epoch in range(1, epochs + 1):
        train_loss = train(model, train_dl, loss_fn, optim, losses)
        val_loss = validate(model, valid_dl, loss_fn)
        print(f"Epoch: {epoch} Train loss: {train_loss:.3f} Val loss: {val_loss:.3f}")

    scores = []
    for i, (src, tgt) in enumerate(valid_pairs):
        hypothesis = translate(model, src, src_transform, tgt_vocab)
        scores.append(bleu(hypothesis, tokenizer(tgt)))
        if i < 3:
            print(src, "=>", " ".join(hypothesis), "| reference:", tgt)
    _harness.report(metric=sum(scores) / len(scores), metric_name="BLEU-2 (held-out pairs)", chance=0.0,
                    losses=losses)


if __name__ == "__main__":
    main()
