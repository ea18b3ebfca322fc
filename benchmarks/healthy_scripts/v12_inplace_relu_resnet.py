import numpy as np
import torch
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
xtr = xtr.view(-1, 1, 8, 8)
xte = xte.view(-1, 1, 8, 8)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True)
        )
        self.layers = nn.Sequential(Block(32), Block(32), Block(32))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


model = ResNet()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
lossf = nn.CrossEntropyLoss()
for _ep, xb, yb in batches(xtr, ytr, bs=64, epochs=8):
    opt.zero_grad()
    loss = lossf(model(xb), yb)
    loss.backward()
    opt.step()
print("final loss", round(loss.item(), 4))
print("test acc", round(acc(model, xte, yte), 4))
print("hash", whash(model))
