"""pytorch/examples `snli/` (train.py, model.py, util.py) run with `--bidirectional`, as it was before commit
e2b9063 ("fixing bug in bidirectional and setting to default").

Buggy: for a bidirectional encoder, `Encoder.forward` returns `ht[-2:].view(batch_size, -1)`. `ht[-2:]` is
(2 directions, batch, d_hidden), so viewing it as (batch, 2 * d_hidden) without moving the batch axis first
glues together the final states of *different* sentences: row i holds the forward states of sentences 2i
and 2i + 1 (first half of the batch) or the backward states of other sentences (second half). Each label is
paired with the encodings of other pairs of the batch. Fixed, as in the commit:
`ht[-2:].transpose(0, 1).contiguous().view(batch_size, -1)`.

Ported (re-written with the same model, loss, optimizer and loop): SNLIClassifier (Embedding -> shared
Linear projection + ReLU -> LSTM encoder over premise and hypothesis separately from zero states, final
hidden states of both directions -> concatenation of premise and hypothesis -> three [Linear, ReLU,
Dropout(0.2)] blocks of width 4 * d_hidden -> Linear to 4 outputs: the answers vocabulary's <unk> plus
the 3 labels); frozen embeddings (`fix_emb`, the default: the embedded inputs are detached);
nn.CrossEntropyLoss; Adam lr 0.001; batch 128; model.train() + opt.zero_grad() per batch; dev accuracy with
model.eval().

Changes: SNLI (torchtext download) -> a generated entailment task in the same (seq_len, batch) token format
with padding at the end: premise "the <adj>? <subject> <verb> the <adj>? <object> ." and a hypothesis that
repeats subject, verb and object (entailment), replaces the verb by its opposite (contradiction) or talks
about another subject and verb (neutral); 6,000 training pairs and 1,000 dev pairs, batches of similar length
as the BucketIterator makes them; GloVe vectors (a download) -> the embedding's default N(0, 1) init, frozen
as in the example; d_embed = d_proj = d_hidden = 64 instead of 300; 14 epochs instead of 50; CPU;
checkpoints and the log templates dropped (a print per epoch). Both variants use `--bidirectional` (the
configuration the bug is in; the fix commit made it the default). Metric: the dev accuracy after the last
epoch; chance 1/3.
"""

import random

import _harness
import torch
import torch.nn as nn
import torch.optim as O

EPOCHS = 14  # util.py: 50
D = 64  # util.py: d_embed = d_proj = d_hidden = 300

seed = _harness.seed_everything()

# --- the SNLI stand-in ---
SUBJECTS = ["man", "woman", "boy", "girl", "dog", "cat", "child", "player", "worker", "student", "chef", "driver"]
VERBS = [("holds", "drops"), ("opens", "closes"), ("likes", "hates"), ("finds", "loses"), ("pushes", "pulls"),
         ("buys", "sells"), ("raises", "lowers"), ("starts", "stops")]
OBJECTS = ["ball", "door", "box", "book", "car", "bag", "cup", "hat", "phone", "bike"]
ADJ = ["young", "old", "small", "big", "red", "blue", "happy", "tall"]
LABELS = ["entailment", "contradiction", "neutral"]


def noun_phrase(rng, noun):
    return ["the"] + ([rng.choice(ADJ)] if rng.random() < 0.5 else []) + [noun]


def make_pair(rng):
    s, o = rng.choice(SUBJECTS), rng.choice(OBJECTS)
    v_pos, v_neg = rng.choice(VERBS)
    verb = v_pos if rng.random() < 0.5 else v_neg
    premise = noun_phrase(rng, s) + [verb] + noun_phrase(rng, o) + ["."]
    label = rng.randrange(3)
    if label == 0:  # entailment: the same event
        hyp_s, hyp_v, hyp_o = s, verb, o
    elif label == 1:  # contradiction: the opposite action
        hyp_s, hyp_v, hyp_o = s, (v_neg if verb == v_pos else v_pos), o
    else:  # neutral: someone else doing something else
        hyp_s = rng.choice([x for x in SUBJECTS if x != s])
        hyp_v = rng.choice([v for pair in VERBS for v in pair if v not in (v_pos, v_neg)])
        hyp_o = rng.choice(OBJECTS)
    hypothesis = ["a" if rng.random() < 0.5 else "the", hyp_s, hyp_v, "a", hyp_o, "."]
    return premise, hypothesis, LABELS[label]


rng = random.Random(seed)
train = [make_pair(rng) for _ in range(6000)]
dev = [make_pair(rng) for _ in range(1000)]

# torchtext Fields: inputs.build_vocab(train, dev, ...) with <unk>=0, <pad>=1; answers vocab with <unk>=0
words = sorted({w for p, h, _ in train + dev for w in p + h})
itos = ["<unk>", "<pad>"] + words
stoi = {w: i for i, w in enumerate(itos)}
answers = {lab: i + 1 for i, lab in enumerate(LABELS)}


class Batch:
    def __init__(self, examples):
        def pad(seqs):
            width = max(len(s) for s in seqs)
            ids = [[stoi[w] for w in s] + [stoi["<pad>"]] * (width - len(s)) for s in seqs]
            return torch.tensor(ids).t().contiguous()  # (seq_len, batch)
        self.premise = pad([p for p, _, _ in examples])
        self.hypothesis = pad([h for _, h, _ in examples])
        self.label = torch.tensor([answers[lab] for _, _, lab in examples])
        self.batch_size = len(examples)


def bucket_iterator(examples, batch_size, shuffle):
    """Like data.BucketIterator: batches of examples of similar length, in random order when training."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), len(examples[i][1]), rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    for b in batches:
        yield Batch([examples[i] for i in b])


# --- model.py ---
class Bottle(nn.Module):
    def forward(self, input):
        if len(input.size()) <= 2:
            return super().forward(input)
        size = input.size()[:2]
        out = super().forward(input.view(size[0] * size[1], -1))
        return out.view(*size, -1)


class Linear(Bottle, nn.Linear):
    pass


class Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        input_size = config.d_proj if config.projection else config.d_embed
        self.rnn = nn.LSTM(input_size=input_size, hidden_size=config.d_hidden, num_layers=config.n_layers,
                           dropout=config.dp_ratio if config.n_layers > 1 else 0.0, bidirectional=config.birnn)

    def forward(self, inputs):
        batch_size = inputs.size()[1]
        state_shape = self.config.n_cells, batch_size, self.config.d_hidden
        h0 = c0 = inputs.new_zeros(*state_shape)
        outputs, (ht, ct) = self.rnn(inputs, (h0, c0))
        if not self.config.birnn:
            return ht[-1]
        if _harness.buggy():
            return ht[-2:].view(batch_size, -1)  # the bug: mixes the final states of different sentences
        return ht[-2:].transpose(0, 1).contiguous().view(batch_size, -1)


class SNLIClassifier(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.n_embed, config.d_embed)
        self.projection = Linear(config.d_embed, config.d_proj)
        self.encoder = Encoder(config)
        self.dropout = nn.Dropout(p=config.dp_ratio)
        self.relu = nn.ReLU()
        seq_in_size = 2 * config.d_hidden
        if self.config.birnn:
            seq_in_size *= 2
        lin_config = [seq_in_size] * 2
        self.out = nn.Sequential(
            Linear(*lin_config), self.relu, self.dropout,
            Linear(*lin_config), self.relu, self.dropout,
            Linear(*lin_config), self.relu, self.dropout,
            Linear(seq_in_size, config.d_out))

    def forward(self, batch):
        prem_embed = self.embed(batch.premise)
        hypo_embed = self.embed(batch.hypothesis)
        if self.config.fix_emb:
            prem_embed = prem_embed.detach()
            hypo_embed = hypo_embed.detach()
        if self.config.projection:
            prem_embed = self.relu(self.projection(prem_embed))
            hypo_embed = self.relu(self.projection(hypo_embed))
        premise = self.encoder(prem_embed)
        hypothesis = self.encoder(hypo_embed)
        scores = self.out(torch.cat([premise, hypothesis], 1))
        return scores


class Config:
    batch_size, d_embed, d_proj, d_hidden, n_layers, lr, dp_ratio = 128, D, D, D, 1, 0.001, 0.2
    birnn, projection, fix_emb = True, True, True  # --bidirectional


# --- train.py ---
config = Config()
config.n_embed = len(itos)
config.d_out = len(answers) + 1
config.n_cells = config.n_layers
if config.birnn:
    config.n_cells *= 2

model = SNLIClassifier(config)
criterion = nn.CrossEntropyLoss()
opt = O.Adam(model.parameters(), lr=config.lr)

losses = []
dev_acc = 0.0
for epoch in range(EPOCHS):
    n_correct, n_total = 0, 0
    for batch in bucket_iterator(train, config.batch_size, shuffle=True):
        model.train()
        opt.zero_grad()
        answer = model(batch)
        n_correct += int((torch.max(answer, 1)[1].view(batch.label.size()) == batch.label).sum())
        n_total += batch.batch_size
        loss = criterion(answer, batch.label)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    n_dev_correct = 0
    with torch.no_grad():
        for dev_batch in bucket_iterator(dev, config.batch_size, shuffle=False):
            answer = model(dev_batch)
            n_dev_correct += int((torch.max(answer, 1)[1].view(dev_batch.label.size()) == dev_batch.label).sum())
    dev_acc = n_dev_correct / len(dev)
    print(f"epoch {epoch}: loss {losses[-1]:.4f} train acc {100 * n_correct / n_total:.2f} dev acc {100 * dev_acc:.2f}")

_harness.report(metric=dev_acc, metric_name="dev accuracy", chance=1 / 3, losses=losses)
