import numpy as np
import torch
import torch.nn as nn
from digits import digits
from hashing import whash
from torch.utils.data import DataLoader, Dataset


class DigitsDS(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    xtr, ytr, xte, yte = digits()
    g = torch.Generator().manual_seed(0)
    tl = DataLoader(
        DigitsDS(xtr, ytr), batch_size=64, shuffle=True, num_workers=2, persistent_workers=True, generator=g
    )
    vl = DataLoader(DigitsDS(xte, yte), batch_size=128, shuffle=False)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    for ep in range(8):
        model.train()
        for xb, yb in tl:
            opt.zero_grad()
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        correct = n = 0
        vloss = 0.0
        with torch.no_grad():
            for xb, yb in vl:
                out = model(xb)
                vloss += lossf(out, yb).item() * len(yb)
                correct += (out.argmax(1) == yb).sum().item()
                n += len(yb)
        model.train()
        print("epoch", ep, "val loss", round(vloss / n, 4), "val acc", round(correct / n, 4))
    print("hash", whash(model))


if __name__ == "__main__":
    main()
