# GRU encoder-decoder with dot-product (Luong "general") attention that learns to reverse digit strings.
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

variant = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
torch.set_num_threads(1)

V, BOS, L, HID = 12, 10, 10, 64   # symbols 0..9, BOS=10


def make_data(n):
    src = torch.randint(0, 10, (n, L))
    return src, src.flip(1)


xtr, ytr = make_data(6000)
xte, yte = make_data(1000)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.W = nn.Linear(HID, HID, bias=False)

    def forward(self, dec, enc):            # dec (B,Tt,H), enc (B,Ts,H)
        scores = dec @ self.W(enc).transpose(1, 2)   # (B,Tt,Ts)
        if variant == "buggy":
            weights = torch.softmax(scores, dim=0)  # the bug
        else:
            weights = torch.softmax(scores, dim=-1)  # the bug
        return weights @ enc


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, 32)
        self.tgt_emb = nn.Embedding(V, 32)
        self.encoder = nn.GRU(32, HID, batch_first=True)
        self.decoder = nn.GRU(32, HID, batch_first=True)
        self.attn = Attention()
        self.out = nn.Linear(2 * HID, V)

    def forward(self, src, tgt_in, h=None, enc=None):
        if enc is None:
            enc, h = self.encoder(self.src_emb(src))
        dec, h = self.decoder(self.tgt_emb(tgt_in), h)
        ctx = self.attn(dec, enc)
        return self.out(torch.cat([dec, ctx], -1)), h, enc


def shift_right(y):
    return torch.cat([torch.full((len(y), 1), BOS), y[:, :-1]], 1)


@torch.no_grad()
def greedy_acc(model, src, tgt):
    model.eval()
    tok = torch.full((len(src), 1), BOS)
    h = enc = None
    outs = []
    for _ in range(L):
        logits, h, enc = model(src, tok, h, enc)
        tok = logits[:, -1:].argmax(-1)
        outs.append(tok)
    pred = torch.cat(outs, 1)
    model.train()
    return (pred == tgt).float().mean().item()


model = Seq2Seq()
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
g = torch.Generator().manual_seed(0)
for ep in range(6):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]
        logits, _, _ = model(xtr[idx], shift_right(ytr[idx]))
        loss = F.cross_entropy(logits.reshape(-1, V), ytr[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {ep} loss {loss.item():.4f}")
print(f"final train loss {loss.item():.4f}")
print(f"test token accuracy (greedy decoding) {greedy_acc(model, xte, yte):.3f}")
