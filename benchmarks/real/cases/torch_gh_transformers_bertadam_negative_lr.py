"""huggingface/transformers (then pytorch-pretrained-BERT) issue #132 "Learning rate of BertAdam may become
negative" (also #324, PR #327): `run_squad.py` computed the optimizer's t_total from the number of training
*examples*, but it takes one step per batch of doc-stride *features*, which are more numerous; BertAdam's
`warmup_linear` schedule returns `1 - step / t_total`, so past t_total the learning rate turns negative and
the optimizer climbs the loss. The issue: "using number of training examples as total step, but number of
training features is reasonable".

A small program with run_squad.py's training structure: long documents cut into overlapping windows
(max_seq_length, doc_stride) so one example gives several features; `num_train_steps = int(n /
train_batch_size * num_train_epochs)`; the library's BertAdam re-written (Adam without bias correction,
per-parameter gradient clipping at 1.0, decoupled weight decay 0.01 except for bias / LayerNorm, warmup_linear
with warmup 0.1, no clamp at 0 as in that release) stepping once per feature batch. Substitutions, all
documented in the TOML: SQuAD and the span head become the local IMDB stand-in and a sequence-classification
head on each window (BertForSequenceClassification from a tiny config, random init: no pretrained download
here), lr 1e-3 instead of 3e-5 since the tiny model trains from scratch, 2 epochs. The fix counts the
features.
"""

import math

import _data
import _harness
import numpy as np
import torch
import transformers
from torch.nn.utils import clip_grad_norm_
from torch.optim import Optimizer
from transformers import BertConfig, BertForSequenceClassification


def warmup_linear(x, warmup=0.002):
    if x < warmup:
        return x / warmup
    return 1.0 - x  # negative once step > t_total


class BertAdam(Optimizer):
    """BERT's Adam: no bias correction, per-parameter clipping, decoupled weight decay, scheduled lr."""

    def __init__(self, params, lr, warmup=-1, t_total=-1, b1=0.9, b2=0.999, e=1e-6, weight_decay_rate=0.01,
                 max_grad_norm=1.0):
        defaults = dict(lr=lr, warmup=warmup, t_total=t_total, b1=b1, b2=b2, e=e,
                        weight_decay_rate=weight_decay_rate, max_grad_norm=max_grad_norm)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["next_m"] = torch.zeros_like(p)
                    state["next_v"] = torch.zeros_like(p)
                if group["max_grad_norm"] > 0:
                    clip_grad_norm_(p, group["max_grad_norm"])
                grad = p.grad
                next_m, next_v = state["next_m"], state["next_v"]
                next_m.mul_(group["b1"]).add_(grad, alpha=1 - group["b1"])
                next_v.mul_(group["b2"]).addcmul_(grad, grad, value=1 - group["b2"])
                update = next_m / (next_v.sqrt() + group["e"])
                if group["weight_decay_rate"] > 0.0:
                    update += group["weight_decay_rate"] * p
                if group["t_total"] != -1:
                    lr_scheduled = group["lr"] * warmup_linear(state["step"] / group["t_total"], group["warmup"])
                else:
                    lr_scheduled = group["lr"]
                p.add_(-lr_scheduled * update)
                state["step"] += 1


def convert_examples_to_features(docs, labels, max_seq_length, doc_stride, max_doc_tokens):
    """Overlapping windows over each document, as run_squad.py does for long contexts."""
    ids, masks, targets = [], [], []
    for doc, label in zip(docs, labels):
        tokens = doc[1:max_doc_tokens + 1]
        start = 0
        while True:
            window = [1] + tokens[start:start + max_seq_length - 1]  # 1 = the start / [CLS] token
            row = np.zeros(max_seq_length, dtype=np.int64)
            row[:len(window)] = window
            mask = np.zeros(max_seq_length, dtype=np.int64)
            mask[:len(window)] = 1
            ids.append(row)
            masks.append(mask)
            targets.append(label)
            if start + max_seq_length - 1 >= len(tokens):
                break
            start += doc_stride
    return torch.from_numpy(np.stack(ids)), torch.from_numpy(np.stack(masks)), torch.tensor(targets)


def main():
    transformers.logging.set_verbosity_error()
    _harness.seed_everything()
    train_batch_size, learning_rate, num_train_epochs, warmup_proportion = 32, 1e-3, 2, 0.1
    max_seq_length, doc_stride, max_doc_tokens = 48, 24, 96
    (x_train, y_train), (x_test, y_test) = _data.imdb_load_data(num_words=10000, seed=_harness.seed(),
                                                                n_train=1000, n_test=1000)
    train_examples = list(zip(x_train, y_train))
    feats = convert_examples_to_features(x_train, y_train, max_seq_length, doc_stride, max_doc_tokens)
    test_feats = convert_examples_to_features(x_test, y_test, max_seq_length, max_seq_length - 1, max_seq_length - 1)
    print(f"{len(train_examples)} examples -> {len(feats[0])} features")
    # one optimizer step is taken per batch of features
    n_counted = len(train_examples) if _harness.buggy() else len(feats[0])  # the bug: t_total from examples
    num_train_steps = int(n_counted / train_batch_size * num_train_epochs)

    config = BertConfig(vocab_size=10000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=max_seq_length, num_labels=2)
    model = BertForSequenceClassification(config)
    no_decay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
    param_optimizer = list(model.named_parameters())
    optimizer_grouped_parameters = [
        {"params": [p for n, p in param_optimizer if not any(nd in n for nd in no_decay)], "weight_decay_rate": 0.01},
        {"params": [p for n, p in param_optimizer if any(nd in n for nd in no_decay)], "weight_decay_rate": 0.0},
    ]
    optimizer = BertAdam(optimizer_grouped_parameters, lr=learning_rate, warmup=warmup_proportion,
                         t_total=num_train_steps)

    losses = []
    model.train()
    for epoch in range(num_train_epochs):
        order = torch.randperm(len(feats[0]))
        for start in range(0, len(order), train_batch_size):
            idx = order[start:start + train_batch_size]
            loss = model(input_ids=feats[0][idx], attention_mask=feats[1][idx], labels=feats[2][idx]).loss
            loss.backward()
            optimizer.step()
            model.zero_grad()
            losses.append(loss.item())
        print(f"epoch {epoch + 1}: mean loss {np.mean(losses[-math.ceil(len(order) / train_batch_size):]):.4f}")

    model.eval()
    with torch.no_grad():
        logits = model(input_ids=test_feats[0], attention_mask=test_feats[1]).logits
    accuracy = (logits.argmax(-1) == test_feats[2]).float().mean().item()
    print(f"test accuracy {accuracy:.4f}")
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.5, losses=losses)


if __name__ == "__main__":
    main()
