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
"""

import math

import _data
import _harness
import torch
import torch.nn as nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import Dataset
from torch.utils.data.dataloader import DataLoader


class CN:
    """A lightweight configuration node (minGPT's `CfgNode`)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def merge_from_dict(self, d):
        self.__dict__.update(d)


class NewGELU(nn.Module):
    """GELU as in Google BERT / OpenAI GPT (tanh approximation)."""

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                             .view(1, 1, config.block_size, config.block_size))
        self.n_head = config.n_head
        self.n_embd = config.n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.ModuleDict(dict(
            c_fc=nn.Linear(config.n_embd, 4 * config.n_embd),
            c_proj=nn.Linear(4 * config.n_embd, config.n_embd),
            act=NewGELU(),
            dropout=nn.Dropout(config.resid_pdrop),
        ))
        m = self.mlp
        self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlpf(self.ln_2(x))


class GPT(nn.Module):
    @staticmethod
    def get_default_config():
        return CN(model_type="gpt", n_layer=None, n_head=None, n_embd=None, vocab_size=None, block_size=None,
                  embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1)

    def __init__(self, config):
        super().__init__()
        self.block_size = config.block_size
        config.merge_from_dict({
            "gpt-mini": dict(n_layer=6, n_head=6, n_embd=192),
            "gpt-micro": dict(n_layer=4, n_head=4, n_embd=128),
            "gpt-nano": dict(n_layer=3, n_head=3, n_embd=48),
        }[config.model_type])
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.embd_pdrop),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        print(f"number of parameters: {sum(p.numel() for p in self.transformer.parameters()) / 1e6:.2f}M")

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            torch.nn.init.zeros_(module.bias)
            torch.nn.init.ones_(module.weight)

    def configure_optimizers(self, train_config):
        decay, no_decay = set(), set()
        whitelist_weight_modules = (torch.nn.Linear,)
        blacklist_weight_modules = (torch.nn.LayerNorm, torch.nn.Embedding)
        for mn, m in self.named_modules():
            for pn, _p in m.named_parameters():
                fpn = f"{mn}.{pn}" if mn else pn
                if pn.endswith("bias"):
                    no_decay.add(fpn)
                elif pn.endswith("weight") and isinstance(m, whitelist_weight_modules):
                    decay.add(fpn)
                elif pn.endswith("weight") and isinstance(m, blacklist_weight_modules):
                    no_decay.add(fpn)
        param_dict = dict(self.named_parameters())
        assert not decay & no_decay and not param_dict.keys() - (decay | no_decay)
        optim_groups = [
            {"params": [param_dict[pn] for pn in sorted(decay)], "weight_decay": train_config.weight_decay},
            {"params": [param_dict[pn] for pn in sorted(no_decay)], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=train_config.learning_rate, betas=train_config.betas)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.block_size
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device).unsqueeze(0)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, do_sample=False, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:  # crop the logits to the top k options
                v, _ = torch.topk(logits, top_k)
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            if do_sample:
                idx_next = torch.multinomial(probs, num_samples=1)
            else:
                _, idx_next = torch.topk(probs, k=1, dim=-1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


class Trainer:
    """minGPT's training loop: endless random batches, AdamW, gradient clipping, callbacks."""

    @staticmethod
    def get_default_config():
        return CN(device="cpu", num_workers=0, max_iters=None, batch_size=64, learning_rate=3e-4,
                  betas=(0.9, 0.95), weight_decay=0.1, grad_norm_clip=1.0)

    def __init__(self, config, model, train_dataset):
        self.config = config
        self.model = model
        self.train_dataset = train_dataset
        self.callbacks = []
        self.iter_num = 0

    def run(self):
        model, config = self.model, self.config
        self.optimizer = model.configure_optimizers(config)
        train_loader = DataLoader(
            self.train_dataset,
            sampler=torch.utils.data.RandomSampler(self.train_dataset, replacement=True, num_samples=int(1e10)),
            shuffle=False, batch_size=config.batch_size, num_workers=config.num_workers,
        )
        model.train()
        self.iter_num = 0
        data_iter = iter(train_loader)
        while True:
            try:
                batch = next(data_iter)
            except StopIteration:
                data_iter = iter(train_loader)
                batch = next(data_iter)
            x, y = batch
            logits, self.loss = model(x, y)
            model.zero_grad(set_to_none=True)
            self.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_norm_clip)
            self.optimizer.step()
            for callback in self.callbacks:
                callback(self)
            self.iter_num += 1
            if config.max_iters is not None and self.iter_num >= config.max_iters:
                break


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
