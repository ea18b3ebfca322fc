"""karpathy/nanoGPT `train.py` + `model.py` with `config/train_shakespeare_char.py` and the README's CPU overrides,
with train.py's default `compile = True`: the model is wrapped by `torch.compile` (after its optimizer is built,
as train.py does), and every forward of the loop and of `estimate_loss()` goes through the compiled module.

This is the port `torch_nanogpt_shakespeare_char` with two differences: `compile = True` (train.py's default)
instead of the README CPU command's `--compile=False`, and `n_layer = 2` instead of the command's 4, because
compiling the 4-layer model from an empty inductor cache took 208 s (86 s of CPU) on this shared 2-core machine,
over the 90 s a run may take (2 layers: 149 s wall, 58 s CPU; with a warm cache the 4-layer run costs the same
as the eager port). Everything else is that port's:

Ported (re-written to the same model, loss, optimizer, schedule and loop): a GPT with token and position
embeddings, pre-LayerNorm blocks (LayerNorm without bias, causal `scaled_dot_product_attention`, GELU MLP,
no biases since `bias=False`), final LayerNorm and a bias-free `lm_head` tied to the token embedding; weights
N(0, 0.02) with the deliberate scaled init N(0, 0.02/sqrt(2*n_layer)) on every `c_proj.weight`; cross-entropy
with `ignore_index=-1` computed inside `forward()`. `configure_optimizers` puts every >=2-D tensor in a
weight-decay-0.1 group and the rest in a no-decay group of one AdamW (lr 1e-3, betas (0.9, 0.99)); `get_lr`
is the linear warmup + cosine decay to min_lr 1e-4; the `while True` loop sets the lr per iteration,
evaluates with `estimate_loss()` every `eval_interval`, runs `gradient_accumulation_steps` micro-steps with
the loss divided by their number and the next batch fetched after each forward, clips the gradient norm at
1.0, steps and zeroes with `set_to_none=True`.

Config: train_shakespeare_char.py with the README's CPU command (`--device=cpu --eval_iters=20
--block_size=64 --batch_size=12 --n_head=4 --n_embd=128 --dropout=0.0`) but train.py's default
`--compile=True` and `--n_layer=2` (see above), then `max_iters = lr_decay_iters = eval_interval = 40`, `warmup_iters = 4` (100 for 5,000
iterations) and `gradient_accumulation_steps = 4` (the config's 1, the train.py default 40) so the
accumulation path runs. Tiny Shakespeare becomes the local English text stand-in (`_data.text_corpus`) encoded
per character and cut 90/10 as `data/shakespeare_char/prepare.py` does; the memmap files become in-memory
arrays. No checkpoints, wandb, DDP, GradScaler or autocast (float32 on CPU as in the original).
"""

import math
import time
from dataclasses import dataclass

import _data
import _harness
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F  # noqa: N812

# -----------------------------------------------------------------------------
# config: train.py defaults <- config/train_shakespeare_char.py <- README CPU command <- this port
eval_interval = 40
log_interval = 1
eval_iters = 20
gradient_accumulation_steps = 4
batch_size = 12
block_size = 64
n_layer = 2  # the README's CPU command: 4 (fewer layers so that compilation fits the time budget)
n_head = 4
n_embd = 128
dropout = 0.0
bias = False
learning_rate = 1e-3
max_iters = 40
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.99
grad_clip = 1.0
decay_lr = True
warmup_iters = 4
lr_decay_iters = 40
min_lr = 1e-4
compile = True  # train.py's default (the README's CPU command passes --compile=False)
# -----------------------------------------------------------------------------


class LayerNorm(nn.Module):
    """LayerNorm but with an optional bias."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0,
                                           is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        # the special scaled init of the residual projections, per the GPT-2 paper
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        print(f"number of parameters: {sum(p.numel() for p in self.parameters()) / 1e6:.2f}M")

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.config.block_size
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        print(f"num decayed parameter tensors: {len(decay_params)}, "
              f"num non-decayed parameter tensors: {len(nodecay_params)}")
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)


def main():
    _harness.seed_everything()
    device = "cpu"

    # data/shakespeare_char/prepare.py: characters -> ints, first 90% train, last 10% val
    data = _data.text_corpus()
    chars = sorted(set(data))
    stoi = {ch: i for i, ch in enumerate(chars)}
    n = len(data)
    splits = {"train": np.array([stoi[c] for c in data[:int(n * 0.9)]], dtype=np.uint16),
              "val": np.array([stoi[c] for c in data[int(n * 0.9):]], dtype=np.uint16)}
    meta_vocab_size = len(chars)

    def get_batch(split):
        arr = splits[split]
        ix = torch.randint(len(arr) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy(arr[i:i + block_size].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(arr[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])
        return x.to(device), y.to(device)

    iter_num = 0
    best_val_loss = 1e9
    model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, bias=bias,
                      vocab_size=meta_vocab_size, dropout=dropout)
    model = GPT(GPTConfig(**model_args))
    model.to(device)
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device)

    # compile the model
    if compile:
        print("compiling the model... (takes a ~minute)")
        unoptimized_model = model  # noqa: F841 (train.py keeps it)
        model = torch.compile(model)  # requires PyTorch 2.0

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                _, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        assert 0 <= decay_ratio <= 1
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    train_losses = []
    val_loss = float("nan")
    X, Y = get_batch("train")
    t0 = time.time()
    while True:
        lr = get_lr(iter_num) if decay_lr else learning_rate
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr

        if iter_num % eval_interval == 0:
            losses = estimate_loss()
            val_loss = float(losses["val"])
            print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            best_val_loss = min(best_val_loss, val_loss)  # (the original saves a checkpoint here)

        for _micro_step in range(gradient_accumulation_steps):
            _, loss = model(X, Y)
            loss = loss / gradient_accumulation_steps
            X, Y = get_batch("train")
            loss.backward()
        if grad_clip != 0.0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        t1 = time.time()
        dt, t0 = t1 - t0, t1
        lossf = loss.item() * gradient_accumulation_steps
        train_losses.append(lossf)
        if iter_num % log_interval == 0:
            print(f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms")
        iter_num += 1
        if iter_num > max_iters:
            break

    _harness.report(metric=-val_loss, metric_name="minus validation loss", chance=-math.log(meta_vocab_size),
                    losses=train_losses)


if __name__ == "__main__":
    main()
