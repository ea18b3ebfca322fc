# an autoencoder with tied weights: the decoder uses the encoder's weight transposed
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(64, 24)
        self.dec_bias = nn.Parameter(torch.zeros(64))

    def forward(self, v):
        h = torch.sigmoid(self.enc(v))
        return torch.sigmoid(F.linear(h, self.enc.weight.t(), self.dec_bias))


m = Tied()
opt = torch.optim.Adam(m.parameters(), 3e-3)
for _ep, xb, _yb in batches(x, y, epochs=15):
    opt.zero_grad()
    F.mse_loss(m(xb), xb).backward()
    opt.step()
with torch.no_grad():
    print("val mse", F.mse_loss(m(xt), xt).item())
