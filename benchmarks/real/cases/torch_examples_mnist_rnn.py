"""pytorch/examples `mnist_rnn/main.py`: an LSTM reads MNIST images row by row.

Ported (re-written to the same model, loss, optimizer, schedule and loop): `nn.LSTM(28, 64,
batch_first=True)` over the 28 rows, the last time step -> BatchNorm1d(64) -> Dropout2d(0.25) -> Linear(64,
32) -> ReLU -> Dropout2d(0.5) -> Linear(32, 10) -> `log_softmax`, loss `F.nll_loss`; Adadelta lr 0.1, StepLR
gamma 0.7 per epoch, batch 64. The torchvision download (ToTensor + Normalize(0.1307, 0.3081)) becomes the
local MNIST stand-in with the same normalization (30,000 train / 1,000 test images); 2 epochs instead of 14;
no accelerator or model saving.
"""

import argparse

import _data
import _harness
import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: N812
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input):
        input = input.reshape(-1, 28, 28)  # (batch, 1, 28, 28) -> (batch, rows, columns)
        output, hidden = self.rnn(input)
        output = output[:, -1, :]  # the last output of the LSTM
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        return F.log_softmax(output, dim=1)


def train(args, model, train_loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")


def test(model, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)}\n")
    return correct / len(test_loader.dataset)


def main():
    parser = argparse.ArgumentParser(description="PyTorch MNIST Example using RNN")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--log-interval", type=int, default=10)
    args = parser.parse_args()
    _harness.seed_everything()

    train_loader = torch.utils.data.DataLoader(_data.MNISTLike(train=True, n_train=30000), batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(_data.MNISTLike(train=False), batch_size=args.test_batch_size,
                                              shuffle=True)
    model = Net()
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    losses = []
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        train(args, model, train_loader, optimizer, epoch, losses)
        accuracy = test(model, test_loader)
        scheduler.step()
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)


if __name__ == "__main__":
    main()
