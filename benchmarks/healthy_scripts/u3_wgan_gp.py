# WGAN-GP on a 2-D mixture: critic 5 steps per generator step, gradient penalty (double backward)
import torch
import torch.nn as nn

torch.manual_seed(0)


def real(n):
    c = torch.randint(0, 4, (n,))
    centers = torch.tensor([[2.0, 0], [-2, 0], [0, 2], [0, -2]])
    return centers[c] + 0.1 * torch.randn(n, 2)


G = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
D = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
opt_g = torch.optim.Adam(G.parameters(), 1e-4, betas=(0.5, 0.9))
opt_d = torch.optim.Adam(D.parameters(), 1e-4, betas=(0.5, 0.9))
for _it in range(300):
    for _ in range(5):
        xr = real(128)
        xf = G(torch.randn(128, 8)).detach()
        eps = torch.rand(128, 1)
        xi = (eps * xr + (1 - eps) * xf).requires_grad_(True)
        g = torch.autograd.grad(D(xi).sum(), xi, create_graph=True)[0]
        gp = ((g.norm(dim=1) - 1) ** 2).mean()
        loss_d = D(xf).mean() - D(xr).mean() + 10 * gp
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    loss_g = -D(G(torch.randn(128, 8))).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
with torch.no_grad():
    s = G(torch.randn(2000, 8))
print("mean radius", s.norm(dim=1).mean().item())
