# CTC: a bidirectional GRU reads noisy one-hot frames of a digit string, emits per-frame log-probs (T, N, C)
import torch
import torch.nn as nn
from hashing import whash

torch.manual_seed(0)
C = 6  # blank + 5 symbols


def make(n):
    xs, ys, yl = [], [], []
    for _ in range(n):
        length = int(torch.randint(2, 6, ()))
        lab = torch.randint(1, C, (length,))
        frames = lab.repeat_interleave(3)
        x = nn.functional.one_hot(frames, C).float() + 0.3 * torch.randn(len(frames), C)
        x = nn.functional.pad(x, (0, 0, 0, 18 - len(frames)))
        xs.append(x)
        ys.append(nn.functional.pad(lab, (0, 5 - length)))
        yl.append(length)
    return torch.stack(xs), torch.stack(ys), torch.tensor(yl)


x, y, yl = make(2000)


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(C, 48, batch_first=True, bidirectional=True)
        self.out = nn.Linear(96, C)

    def forward(self, v):
        return self.out(self.rnn(v)[0]).log_softmax(-1)


m = M()
opt = torch.optim.Adam(m.parameters(), 3e-3)
ctc = nn.CTCLoss(blank=0, zero_infinity=True)
for ep in range(6):
    perm = torch.randperm(2000)
    for i in range(0, 2000, 64):
        j = perm[i : i + 64]
        lp = m(x[j]).transpose(0, 1)
        loss = ctc(lp, y[j], torch.full((len(j),), 18), yl[j])
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(ep, round(loss.item(), 3))
with torch.no_grad():
    best = m(x[:200]).argmax(-1)
ok = 0
for b, lab, length in zip(best, y[:200], yl[:200], strict=False):
    seq = [int(v) for k, v in enumerate(b) if v != 0 and (k == 0 or v != b[k - 1])]
    ok += seq == lab[:length].tolist()
print("exact", ok / 200)
print("hash", whash(m))
