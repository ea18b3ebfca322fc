import torch
import torch.nn.functional as F
from common import acc, batches, data, net

x, y = data()
m = net()
opt = torch.optim.Adam(m.parameters(), 1e-3)
for _ep in range(5):
    for xb, yb in batches(x, y):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.cross_entropy(m(xb), yb)
        loss.backward()
        opt.step()
print("acc", acc(m, x, y))
