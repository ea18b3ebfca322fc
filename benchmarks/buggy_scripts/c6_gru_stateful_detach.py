# Stateful GRU character LM trained with truncated BPTT over one long text stream.
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
V, B, T = len(chars), 16, 25

# split the stream into B parallel streams
nb = len(train) // B
streams = train[: nb * B].view(B, nb)


class CharGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.gru = nn.GRU(32, 128, batch_first=True)
        self.head = nn.Linear(128, V)

    def forward(self, x, h=None):
        out, h = self.gru(self.emb(x), h)
        return self.head(out), h


model = CharGRU()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for ep in range(6):
    h = None
    for i in range(0, nb - T - 1, T):
        x = streams[:, i:i + T]
        y = streams[:, i + 1:i + T + 1]
        if variant == "fixed" and h is not None:
            h = h.detach()  # the bug (missing in buggy)
        logits, h = model(x, h)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {ep} loss {loss.item():.4f}")


@torch.no_grad()
def next_char_acc():
    model.eval()
    logits, _ = model(val[None, :-1])
    return (logits[0].argmax(-1) == val[1:]).float().mean().item()


print(f"final train loss {loss.item():.4f}")
print(f"held-out next-char accuracy {next_char_acc():.3f}")
