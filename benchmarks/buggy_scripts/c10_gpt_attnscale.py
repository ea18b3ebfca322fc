# Tiny GPT-like character LM trained on a short repeated text.
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

variant = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
torch.set_num_threads(1)

text = ("the cat sat on the mat and looked at the moon. "
        "a small dog ran past the old red barn. "
        "she sells sea shells by the sea shore every day. "
        "we wrote tiny models to learn how text flows. "
        "rain fell softly while the kettle began to sing. ") * 40
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text])
n = int(0.9 * len(data))
train, val = data[:n], data[n:]
V, T, D, H, B = len(chars), 32, 64, 1, 32


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).bool())

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = [z.view(b, t, H, D // H).transpose(1, 2) for z in (q, k, v)]
        scale = (D // H) ** -0.5
        if variant == "buggy":
            att = (q @ k.transpose(-2, -1)) / scale  # the bug
        else:
            att = (q @ k.transpose(-2, -1)) * scale  # the bug
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        att = att.softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, D)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = Attention()
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = nn.ModuleList([Block() for _ in range(2)])
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


def get_batch(src):
    ix = torch.randint(len(src) - T - 1, (B,))
    x = torch.stack([src[i:i + T] for i in ix])
    y = torch.stack([src[i + 1:i + T + 1] for i in ix])
    return x, y


@torch.no_grad()
def next_char_acc(model, src):
    # generation-style eval: predict the character that follows a 16-char prompt
    model.eval()
    L = 16
    ix = torch.arange(0, len(src) - L - 1, 3)
    x = torch.stack([src[i:i + L] for i in ix])
    tgt = src[ix + L]
    pred = model(x)[:, -1].argmax(-1)
    model.train()
    return (pred == tgt).float().mean().item()


model = GPT()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
for step in range(600):
    x, y = get_batch(train)
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step} loss {loss.item():.4f}")
print(f"final train loss {loss.item():.4f}")
print(f"held-out next-char accuracy {next_char_acc(model, val):.3f}")
