"""huggingface/transformers (then pytorch-pretrained-BERT) PR #404 "Fix Language Modeling Loss": the GPT and
GPT-2 LM heads computed the cross-entropy of the logits at position i against the label at position i, with
`lm_labels = input_ids` as documented, so the causal model learns to copy its current input token instead of
predicting the next one ("minimizing the loss would previously destroy the language model within a few
steps"). The fix shifts logits and labels: logits[..., :-1] predict labels[..., 1:].

A small program with the structure of the library's documented usage (`loss = model(input_ids,
lm_labels=input_ids)` in a plain PyTorch loop): the GPT-2 of transformers from a tiny `GPT2Config` (random init:
no pretrained download here), whose LM loss is computed as the library did then (`CrossEntropyLoss(
ignore_index=-1)` over the flattened logits and labels, with or without the shift); Adam with gradient
clipping at 1.0 as in the library's example scripts. Data: local English prose at character level (90% /
10% split), random 64-character windows, batch 16, 300 steps. The reported measure is minus the held-out
next-token cross-entropy (the fixed loss) on validation windows.
"""

import math

import _data
import _harness
import numpy as np
import torch
import transformers
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel


class GPT2LMHead2019(GPT2LMHeadModel):
    """GPT2LMHeadModel whose forward returns the LM loss the way pytorch-pretrained-BERT 0.6 computed it."""

    def forward(self, input_ids, lm_labels=None):
        lm_logits = super().forward(input_ids=input_ids).logits
        if lm_labels is None:
            return lm_logits
        loss_fct = nn.CrossEntropyLoss(ignore_index=-1)
        if _harness.buggy():  # the bug: position i is scored against its own input token
            return loss_fct(lm_logits.view(-1, lm_logits.size(-1)), lm_labels.view(-1))
        shift_logits = lm_logits[..., :-1, :].contiguous()
        shift_labels = lm_labels[..., 1:].contiguous()
        return loss_fct(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1))


def main():
    transformers.logging.set_verbosity_error()
    _harness.seed_everything()
    block_size, batch_size, steps, lr = 64, 16, 300, 1e-3
    text = _data.text_corpus()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.int64)
    n = int(0.9 * len(ids))
    train_ids, val_ids = ids[:n], ids[n:]

    def get_batch(data, generator=None):
        ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        return torch.stack([torch.from_numpy(data[i:i + block_size]) for i in ix])

    config = GPT2Config(vocab_size=len(chars), n_positions=block_size, n_embd=64, n_layer=2, n_head=2)
    model = GPT2LMHead2019(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for step in range(steps):
        batch = get_batch(train_ids)
        loss = model(batch, lm_labels=batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.4f}")

    # held-out next-token cross-entropy
    model.eval()
    val_gen = torch.Generator().manual_seed(1234)
    total = 0.0
    with torch.no_grad():
        for _ in range(20):
            batch = get_batch(val_ids, val_gen)
            logits = model(batch)
            total += nn.functional.cross_entropy(logits[:, :-1].reshape(-1, len(chars)),
                                                 batch[:, 1:].reshape(-1)).item()
    val_loss = total / 20
    print(f"validation next-token cross-entropy {val_loss:.4f}")
    _harness.report(metric=-val_loss, metric_name="minus validation next-token cross-entropy",
                    chance=-math.log(len(chars)), losses=losses)


if __name__ == "__main__":
    main()
