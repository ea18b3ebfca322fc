"""The transformer zoo's shared program: a nanoGPT-style character language model and its training loop.

The model follows nanoGPT's ``model.py`` (token + position embeddings, blocks of causal self-attention
through ``F.scaled_dot_product_attention`` and a GELU MLP, a final LayerNorm, an untied ``lm_head``), made
tiny for this CPU; the loop follows its ``train.py`` (AdamW, linear warmup then cosine decay, gradient
clipping, ``torch.autocast`` with a ``GradScaler`` for float16). Each case turns one knob of :class:`Setup`.
Layer names are nanoGPT's qualified names: ``transformer.h.0.attn``, ``transformer.h.1.mlp.c_fc``, ...

Data: characters of Python's own reference documentation (``pydoc_data``, shipped with Python), the
first 90% for training and the rest held out. The outcome's metric is next-character accuracy on held-out
text with a causal mask (how the model is used to generate), the loss the mean of the last 10% of steps.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from benchmarks.zoo import common, data


@dataclass(frozen=True)
class Setup:
    """What a case changes; the defaults train a healthy fp32 model."""

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 32
    batch_size: int = 32
    steps: int = 300
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    dropout: float = 0.0
    #: "fp32", "bf16" (bf16 autocast), "fp16" (fp16 autocast + GradScaler), "fp16_no_scaler" (fp16 autocast,
    #: no GradScaler), "fp16_weights" (``model.half()``, no autocast, no scaler), "bf16_weights"
    #: (``model.to(torch.bfloat16)``: no fp32 master weights)
    precision: str = "fp32"
    causal: bool = True
    norm_first: bool = True  # pre-norm blocks (nanoGPT); False: post-norm (the original Transformer)
    #: PaLM's z-loss: this times the mean squared log-partition of the logits is added to the loss
    z_loss: float = 0.0
    #: False: the targets are the input windows themselves, not shifted by one (the labels' classic bug)
    shift_targets: bool = True
    #: training steps whose batch is replaced by uniformly random characters (a corrupt shard)
    garbage_steps: tuple[int, ...] = field(default_factory=tuple)


def corpus() -> tuple[np.ndarray, np.ndarray, int]:
    """(train ids, held-out ids, vocabulary size) of the character corpus."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key] for key in sorted(topics))
    chars = sorted(set(text))
    ids = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    lookup = {ord(c): i for i, c in enumerate(chars)}
    table = np.zeros(max(lookup) + 1, dtype=np.int64)
    for code, index in lookup.items():
        table[code] = index
    encoded = table[ids]
    cut = int(len(encoded) * 0.9)
    return encoded[:cut], encoded[cut:], len(chars)


class CausalSelfAttention(nn.Module):
    def __init__(self, setup: Setup) -> None:
        super().__init__()
        self.c_attn = nn.Linear(setup.n_embd, 3 * setup.n_embd)
        self.c_proj = nn.Linear(setup.n_embd, setup.n_embd)
        self.n_head, self.n_embd, self.causal = setup.n_head, setup.n_embd, setup.causal
        self.dropout = setup.dropout

    def forward(self, x: torch.Tensor, causal: bool | None = None) -> torch.Tensor:
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal if causal is None else causal)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self, setup: Setup) -> None:
        super().__init__()
        self.c_fc = nn.Linear(setup.n_embd, 4 * setup.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * setup.n_embd, setup.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, setup: Setup) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(setup.n_embd)
        self.attn = CausalSelfAttention(setup)
        self.ln_2 = nn.LayerNorm(setup.n_embd)
        self.mlp = MLP(setup)
        self.norm_first = setup.norm_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.mlp(x))


class GPT(nn.Module):
    def __init__(self, setup: Setup, vocab_size: int) -> None:
        super().__init__()
        self.block_size = setup.block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, setup.n_embd),
            wpe=nn.Embedding(setup.block_size, setup.n_embd),
            h=nn.ModuleList([Block(setup) for _ in range(setup.n_layer)]),
            ln_f=nn.LayerNorm(setup.n_embd) if setup.norm_first else nn.Identity(),
        ))
        self.lm_head = nn.Linear(setup.n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # nanoGPT: scaled init of the residual projections
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * setup.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def get_batch(ids: np.ndarray, setup: Setup, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """nanoGPT's ``get_batch``: random windows, the targets shifted by one."""
    starts = torch.randint(len(ids) - setup.block_size - 1, (setup.batch_size,), generator=generator)
    x = torch.stack([torch.from_numpy(ids[i:i + setup.block_size]) for i in starts.tolist()])
    y = torch.stack([torch.from_numpy(ids[i + 1:i + 1 + setup.block_size]) for i in starts.tolist()])
    return x, y


def lr_at(step: int, setup: Setup) -> float:
    """Linear warmup, then cosine decay to a tenth (nanoGPT's ``get_lr``)."""
    if step < setup.warmup:
        return setup.lr * (step + 1) / (setup.warmup + 1)
    ratio = (step - setup.warmup) / max(1, setup.steps - setup.warmup)
    return setup.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, ratio))))


def _autocast(precision: str) -> torch.autocast | nullcontext:
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if precision in ("fp16", "fp16_no_scaler"):
        return torch.autocast("cpu", dtype=torch.float16)
    return nullcontext()


def train(setup: Setup, seed: int) -> dict:
    """Train one model; the outcome dict of a zoo case (plus ``spike``: the largest loss over the median of
    the 20 steps before it, after the first 50 steps)."""
    common.seed_everything(seed)
    train_ids, valid_ids, vocab = corpus()
    model = GPT(setup, vocab)
    if setup.precision == "fp16_weights":
        model = model.half()
    elif setup.precision == "bf16_weights":
        model = model.to(torch.bfloat16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=setup.lr, betas=(0.9, 0.99),
                                  weight_decay=setup.weight_decay)
    scaler = torch.amp.GradScaler("cpu", enabled=setup.precision == "fp16")
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    model.train()
    for step in range(setup.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, setup)
        x, y = get_batch(train_ids, setup, generator)
        if not setup.shift_targets:
            y = x
        if step in setup.garbage_steps:
            x = torch.randint(vocab, x.shape, generator=generator)
            y = torch.randint(vocab, y.shape, generator=generator)
        with _autocast(setup.precision):
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.view(-1))
            total = loss
            if setup.z_loss:
                total = loss + setup.z_loss * torch.logsumexp(logits.float(), -1).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        if setup.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), setup.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    return _outcome(model, setup, valid_ids, vocab, losses)


@torch.no_grad()
def _outcome(model: GPT, setup: Setup, valid_ids: np.ndarray, vocab: int, losses: list[float]) -> dict:
    model.eval()
    generator = torch.Generator().manual_seed(12345)
    eval_setup = Setup(block_size=setup.block_size, batch_size=64)
    correct = total = 0
    dtype = next(model.parameters()).dtype
    for _ in range(4):
        x, y = get_batch(valid_ids, eval_setup, generator)
        with _autocast(setup.precision):
            logits = _causal_forward(model, x).to(dtype)
        correct += int((logits.float().argmax(-1) == y).sum())
        total += y.numel()
    counts = np.bincount(valid_ids, minlength=vocab)
    out = data.outcome(losses, correct / total, "accuracy", float(counts.max() / counts.sum()),
                       common.weights_finite(model))
    out["spike"] = _largest_spike(losses)
    return out


def _causal_forward(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The forward with every attention causal, whatever the model was trained with (generation)."""
    originals = [block.attn.causal for block in model.transformer.h]
    for block in model.transformer.h:
        block.attn.causal = True
    try:
        return model(idx)
    finally:
        for block, causal in zip(model.transformer.h, originals, strict=True):
            block.attn.causal = causal


def _largest_spike(losses: list[float], skip: int = 50, window: int = 20) -> float:
    series = np.asarray(losses, dtype=np.float64)
    worst = 0.0
    for i in range(max(skip, window), len(series)):
        before = np.median(series[i - window:i])
        if np.isfinite(series[i]) and np.isfinite(before) and before > 0:
            worst = max(worst, float(series[i] / before))
    return worst
