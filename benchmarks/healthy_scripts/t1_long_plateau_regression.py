import torch
import torch.nn as nn

torch.manual_seed(0)
x = torch.randn(4096, 8)
w = torch.randn(8, 1)
y = x @ w + 0.5 * torch.randn(4096, 1)
m = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
opt = torch.optim.SGD(m.parameters(), 0.01)
for _step in range(20000):
    i = torch.randint(0, 4096, (32,))
    opt.zero_grad()
    loss = nn.functional.mse_loss(m(x[i]), y[i])
    loss.backward()
    opt.step()
print("final", loss.item())
