import torch
import torch.nn.functional as F
from common import acc, batches, data, net

x, y = data()
m = net()
opt = torch.optim.AdamW(m.parameters(), 3e-3, weight_decay=0.05)
acc_steps = 4
for _ep in range(6):
    for i, (xb, yb) in enumerate(batches(x, y, 16)):
        loss = F.cross_entropy(m(xb), yb) / acc_steps
        loss.backward()
        if (i + 1) % acc_steps == 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
print("acc", acc(m, x, y))
