"""karpathy/minGPT `projects/chargpt/chargpt.py` (+ `mingpt/model.py`, `mingpt/trainer.py`): a character-level
GPT language model trained on a text file, sampling a completion of "O God, O God!" every 500 iterations.

Ported (re-written to the same data set, model, loss, optimizer and loop): `CharDataset` builds its vocabulary
from the sorted unique characters of the text and emits every window of block_size + 1 characters as (x, y)
shifted by one. The model is minGPT's GPT (token + position embeddings, dropout 0.1, pre-LayerNorm blocks with
explicit causal self-attention (masked_fill -inf), the tanh `NewGELU` MLP, final LayerNorm, bias-free
`lm_head`; N(0, 0.02) init with N(0, 0.02/sqrt(2*n_layer)) on every `c_proj.weight`); `F.cross_entropy`
(ignore_index=-1) inside `forward()`. minGPT's `Trainer`: `configure_optimizers` (AdamW, weight decay 0.1 on
Linear weights only, betas (0.9, 0.95)) with chargpt's learning rate 5e-4, batches of 64 from a
`RandomSampler` with replacement, `zero_grad(set_to_none=True)`, `clip_grad_norm_(1.0)`; the batch-end
callback prints the loss every 10 iterations and, at every 500th (iteration 0 included), samples 500
characters (temperature 1.0, top_k 10) in eval mode and returns to train mode.

Changes: Tiny Shakespeare's input.txt becomes the local English corpus (`_data.text_splits`: the first 90% trains,
the next 5% is held out); chargpt's command-line overrides are used for a tiny run, `--model.model_type=gpt-nano`
(3 layers, 3 heads, 48 dims; chargpt's default is gpt-mini) and `--data.block_size=64` (default 128);
max_iters 200 instead of unbounded (the project trains until stopped); DataLoader workers 0 instead of 4; no
work-dir logging or checkpoint saving; `set_seed(3407)` becomes the benchmark's seed. The project has no
held-out measure, so the port adds one after training: the mean loss on 20 batches of windows from the held-out
text (its characters unknown to the training vocabulary are dropped); the metric is minus that loss.
The model and the trainer are `_mingpt.py`, shared with the adder port as upstream's projects share `mingpt/`.
"""

import math

import _data
import _harness
import torch
from _mingpt import CN, GPT, Trainer
from torch.utils.data import Dataset


class CharDataset(Dataset):
    """Emits batches of characters."""

    @staticmethod
    def get_default_config():
        return CN(block_size=128)

    def __init__(self, config, data):
        self.config = config
        chars = sorted(set(data))
        data_size, vocab_size = len(data), len(chars)
        print(f"data has {data_size} characters, {vocab_size} unique.")
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))
        self.vocab_size = vocab_size
        self.data = data

    def get_vocab_size(self):
        return self.vocab_size

    def get_block_size(self):
        return self.config.block_size

    def __len__(self):
        return len(self.data) - self.config.block_size

    def __getitem__(self, idx):
        chunk = self.data[idx:idx + self.config.block_size + 1]
        dix = [self.stoi[s] for s in chunk]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        return x, y


def get_config():
    C = CN()
    C.system = CN(seed=3407, work_dir="./out/chargpt")
    C.data = CharDataset.get_default_config()
    C.model = GPT.get_default_config()
    C.model.model_type = "gpt-mini"
    C.trainer = Trainer.get_default_config()
    C.trainer.learning_rate = 5e-4  # the model we're using is so small that we can go a bit faster
    return C


def main():
    config = get_config()
    # chargpt's command line for a tiny run: --model.model_type=gpt-nano --data.block_size=64
    config.model.model_type = "gpt-nano"
    config.data.block_size = 64
    config.trainer.max_iters = 200
    config.system.seed = _harness.seed_everything()

    text, held_out, _ = _data.text_splits(valid_frac=0.05, test_frac=0.05)
    train_dataset = CharDataset(config.data, text)

    config.model.vocab_size = train_dataset.get_vocab_size()
    config.model.block_size = train_dataset.get_block_size()
    model = GPT(config.model)
    trainer = Trainer(config.trainer, model, train_dataset)
    losses = []

    def batch_end_callback(trainer):
        losses.append(trainer.loss.item())
        if trainer.iter_num % 10 == 0:
            print(f"iter {trainer.iter_num}: train loss {trainer.loss.item():.5f}")
        if trainer.iter_num % 500 == 0:
            model.eval()
            with torch.no_grad():
                context = "O God, O God!"
                x = torch.tensor([train_dataset.stoi[s] for s in context], dtype=torch.long)[None, ...]
                y = model.generate(x, 500, temperature=1.0, do_sample=True, top_k=10)[0]
                print("".join(train_dataset.itos[int(i)] for i in y))
            model.train()

    trainer.callbacks.append(batch_end_callback)
    trainer.run()

    # the port's held-out measure: mean loss on windows of the held-out text
    model.eval()
    val_dataset = CharDataset(config.data, "".join(ch for ch in held_out if ch in train_dataset.stoi))
    val_dataset.stoi = train_dataset.stoi
    gen = torch.Generator().manual_seed(1234)
    starts = torch.randint(len(val_dataset), (20 * config.trainer.batch_size,), generator=gen).tolist()
    val_losses = []
    with torch.no_grad():
        for b in range(20):
            batch = [val_dataset[i] for i in starts[b * config.trainer.batch_size:(b + 1) * config.trainer.batch_size]]
            x = torch.stack([xy[0] for xy in batch])
            y = torch.stack([xy[1] for xy in batch])
            val_losses.append(model(x, y)[1].item())
    val_loss = sum(val_losses) / len(val_losses)
    print(f"held-out loss {val_loss:.4f}")
    _harness.report(metric=-val_loss, metric_name="minus held-out loss", chance=-math.log(config.model.vocab_size),
                    losses=losses)


if __name__ == "__main__":
    main()
