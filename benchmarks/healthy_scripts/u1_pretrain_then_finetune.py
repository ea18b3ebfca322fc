# pretrain an autoencoder, then fine-tune the encoder with a classifier head and a new optimizer
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()
enc = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
dec = nn.Sequential(nn.Linear(32, 64), nn.Sigmoid())
ae = nn.Sequential(enc, dec)
opt = torch.optim.Adam(ae.parameters(), 1e-3)
for _ep, xb, _yb in batches(x, y, epochs=6):
    opt.zero_grad()
    F.mse_loss(ae(xb), xb).backward()
    opt.step()
clf = nn.Sequential(enc, nn.Linear(32, 10))
opt = torch.optim.Adam(clf.parameters(), 1e-3)
for _ep, xb, yb in batches(x, y, epochs=8, seed=2):
    opt.zero_grad()
    F.cross_entropy(clf(xb), yb).backward()
    opt.step()
print("acc", acc(clf, xt, yt))
