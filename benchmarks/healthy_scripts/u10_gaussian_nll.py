# heteroscedastic regression: Gaussian NLL goes negative; a validation loss with the same loss object
import torch
import torch.nn as nn

torch.manual_seed(0)
x = torch.rand(2000, 1) * 6 - 3
y = torch.sin(x) + 0.05 * torch.randn_like(x)
xv = torch.rand(300, 1) * 6 - 3
yv = torch.sin(xv) + 0.05 * torch.randn_like(xv)
net = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
crit = nn.GaussianNLLLoss()
opt = torch.optim.Adam(net.parameters(), 3e-3)
for ep in range(30):
    perm = torch.randperm(2000)
    for i in range(0, 2000, 100):
        idx = perm[i : i + 100]
        out = net(x[idx])
        mu, var = out[:, :1], nn.functional.softplus(out[:, 1:]) + 1e-6
        loss = crit(mu, y[idx], var)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = net(xv)
        vl = crit(out[:, :1], yv, nn.functional.softplus(out[:, 1:]) + 1e-6)
    if ep % 5 == 0:
        print(ep, loss.item(), vl.item())
print("final val", vl.item())
