"""pytorch/tutorials issue #2478 ("TransformerEncoder is not causal"), fixed by PR #2662: the tutorial
"Language Modeling with nn.Transformer and torchtext" (`beginner_source/transformer_tutorial.py`) trains an
`nn.TransformerEncoder` language model to predict token t+1 from tokens ..t, but after PR #2423 removed the
square subsequent mask its `forward` ran the encoder with `src_mask=None`: every position attends to the
whole `bptt` chunk, including the very token it has to predict. The training and validation perplexities
look excellent while the model cannot predict a word that is not already in its input ("it was never able to
give a prediction for the next word that made any sense, despite reaching a perplexity of 2.9"). PR #2662
generates `nn.Transformer.generate_square_subsequent_mask(len(src))` in `forward` when no mask is given.

Ported (re-written to the same model, loss, optimizer, schedule, batching and loop): `TransformerModel`
(Embedding * sqrt(d_model), sinusoidal PositionalEncoding with dropout, TransformerEncoder of 2
TransformerEncoderLayer(d_model=200, nhead=2, d_hid=200, dropout=0.2), Linear decoder; uniform(-0.1, 0.1)
init), `batchify` (20 training columns, 10 evaluation columns), `get_batch` with bptt 35,
nn.CrossEntropyLoss, SGD lr 5.0, clip_grad_norm_ 0.5, StepLR(step 1, gamma 0.95) stepped once per epoch,
3 epochs, `evaluate` with eval() / no_grad, the best-validation model kept for the test. WikiText-2 becomes
the local English prose (`_data.text_splits`), tokenized like torchtext's `basic_english` (lower case,
punctuation split off); as in WikiText-2, words seen fewer than 3 times in the training text become `<unk>`.

Measure: the tutorial reports the test perplexity, but over all positions it rewards the leak, so the port
reports minus the test perplexity at the last position of every bptt chunk, the one prediction whose target
is not inside the model's input in either variant (the next word, as generation needs it); the tutorial's
own test loss is printed and recorded as well.
"""

import math
import re

import _data
import _harness
import torch
from torch import Tensor, nn
from torch.nn import TransformerEncoder, TransformerEncoderLayer

EPOCHS = 3


class TransformerModel(nn.Module):
    def __init__(self, ntoken, d_model, nhead, d_hid, nlayers, dropout=0.5):
        super().__init__()
        self.model_type = "Transformer"
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        encoder_layers = TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
        self.transformer_encoder = TransformerEncoder(encoder_layers, nlayers, enable_nested_tensor=False)
        self.embedding = nn.Embedding(ntoken, d_model)
        self.d_model = d_model
        self.linear = nn.Linear(d_model, ntoken)
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.linear.bias.data.zero_()
        self.linear.weight.data.uniform_(-initrange, initrange)

    def forward(self, src: Tensor, src_mask: Tensor = None) -> Tensor:
        """src: [seq_len, batch_size] -> [seq_len, batch_size, ntoken]"""
        src = self.embedding(src) * math.sqrt(self.d_model)
        src = self.pos_encoder(src)
        if src_mask is None and not _harness.buggy():  # the bug: no causal mask, every position sees its target
            src_mask = nn.Transformer.generate_square_subsequent_mask(len(src))
        output = self.transformer_encoder(src, src_mask)
        return self.linear(output)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0)]
        return self.dropout(x)


def basic_english(line):
    """torchtext's get_tokenizer('basic_english'): lower case, punctuation split off, whitespace split."""
    line = line.lower()
    line = re.sub(r"([.,!?;:()\"'])", r" \1 ", line)
    return line.split()


def main():
    _harness.seed_everything()
    train_text, val_text, test_text = _data.text_splits()
    lines = {name: text.splitlines() for name, text in
             (("train", train_text), ("val", val_text), ("test", test_text))}
    counts = {}
    for line in lines["train"]:
        for tok in basic_english(line):
            counts[tok] = counts.get(tok, 0) + 1
    vocab = {"<unk>": 0}  # WikiText-2 already maps words seen fewer than 3 times to <unk>; so does the stand-in
    for tok, count in counts.items():
        if count >= 3:
            vocab.setdefault(tok, len(vocab))

    def data_process(raw_lines):
        data = [torch.tensor([vocab.get(t, 0) for t in basic_english(line)], dtype=torch.long) for line in raw_lines]
        return torch.cat(tuple(filter(lambda t: t.numel() > 0, data)))

    def batchify(data, bsz):
        seq_len = data.size(0) // bsz
        data = data[:seq_len * bsz]
        return data.view(bsz, seq_len).t().contiguous()

    batch_size, eval_batch_size = 20, 10
    train_data = batchify(data_process(lines["train"]), batch_size)
    val_data = batchify(data_process(lines["val"]), eval_batch_size)
    test_data = batchify(data_process(lines["test"]), eval_batch_size)

    bptt = 35

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i + seq_len]
        target = source[i + 1:i + 1 + seq_len].reshape(-1)
        return data, target

    ntokens = len(vocab)
    model = TransformerModel(ntokens, 200, 2, 200, 2, 0.2)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=5.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)
    losses = []

    def train(epoch):
        model.train()
        total_loss, log_interval = 0.0, 50
        num_batches = len(train_data) // bptt
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            output = model(data)
            loss = criterion(output.view(-1, ntokens), targets)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            losses.append(loss.item())
            total_loss += loss.item()
            if batch % log_interval == 0 and batch > 0:
                cur_loss = total_loss / log_interval
                print(f"| epoch {epoch:3d} | {batch:5d}/{num_batches:5d} batches | lr {scheduler.get_last_lr()[0]:02.2f}"
                      f" | loss {cur_loss:5.2f} | ppl {math.exp(cur_loss):8.2f}")
                total_loss = 0.0

    def evaluate(eval_data):
        """The tutorial's evaluate (all positions) and the loss at the last position of every chunk."""
        model.eval()
        total_loss, last_loss, last_correct, n_last = 0.0, 0.0, 0, 0
        with torch.no_grad():
            for i in range(0, eval_data.size(0) - 1, bptt):
                data, targets = get_batch(eval_data, i)
                seq_len = data.size(0)
                output = model(data)
                total_loss += seq_len * criterion(output.view(-1, ntokens), targets).item()
                last_targets = targets.view(seq_len, -1)[-1]
                last_loss += criterion(output[-1], last_targets).item() * len(last_targets)
                last_correct += (output[-1].argmax(-1) == last_targets).sum().item()
                n_last += len(last_targets)
        return total_loss / (len(eval_data) - 1), last_loss / n_last, last_correct / n_last

    best_val_loss, best_state = float("inf"), None
    for epoch in range(1, EPOCHS + 1):
        train(epoch)
        val_loss, val_last, val_acc = evaluate(val_data)
        print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | valid ppl {math.exp(val_loss):8.2f} "
              f"| last-position loss {val_last:5.2f} acc {val_acc:.3f}")
        if val_loss < best_val_loss:
            best_val_loss = val_loss
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        scheduler.step()
    model.load_state_dict(best_state)

    test_loss, test_last, test_acc = evaluate(test_data)
    print(f"| End of training | test loss {test_loss:5.2f} | test ppl {math.exp(test_loss):8.2f} "
          f"| last-position test loss {test_last:5.2f} accuracy {test_acc:.3f}")
    # chance: the perplexity of a uniform guess over the vocabulary
    _harness.report(metric=-math.exp(test_last), metric_name="minus last-position test perplexity",
                    chance=-float(ntokens), losses=losses, tutorial_test_loss=test_loss,
                    last_position_test_loss=test_last, last_position_test_accuracy=test_acc)

if __name__ == "__main__":
    main()
