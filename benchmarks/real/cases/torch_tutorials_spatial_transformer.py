"""pytorch/tutorials `intermediate_source/spatial_transformer_tutorial.py` (Spatial Transformer Networks
Tutorial, Ghassen Hamrouni): an MNIST classifier whose input first passes through a spatial transformer.

Ported (re-written to the same model, loss, optimizer, batch size and train / test loops): the localization
network Conv2d(1, 8, 7) / MaxPool2d(2) / ReLU / Conv2d(8, 10, 5) / MaxPool2d(2) / ReLU feeds a regressor
Linear(90, 32) / ReLU / Linear(32, 6) whose last layer starts at zero weights and the identity-transform bias;
`affine_grid` + `grid_sample` warp the input, then the tutorial's classifier (Conv2d(1, 10, 5), Conv2d(10, 20,
5) with Dropout2d, Linear(320, 50), dropout, Linear(50, 10), `log_softmax(dim=1)`) is trained with `nll_loss`
and plain SGD(lr=0.01), batch 64, shuffled.

Changes: the torchvision MNIST download becomes the local stand-in of the same shape and normalization (6,000
train / 1,000 test images instead of 60,000 / 10,000); 6 epochs instead of 20; no CUDA, DataLoader workers
or visualization; the test loss uses `reduction="sum"` for the removed `size_average=False`.
"""

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim

_harness.seed_everything()

train_loader = torch.utils.data.DataLoader(_data.MNISTLike(train=True, seed=_harness.seed()), batch_size=64,
                                           shuffle=True)
test_loader = torch.utils.data.DataLoader(_data.MNISTLike(train=False, seed=_harness.seed()), batch_size=64,
                                          shuffle=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

        # the localization network of the spatial transformer
        self.localization = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=7),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
            nn.Conv2d(8, 10, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
        )

        # regresses the 2 x 3 affine matrix
        self.fc_loc = nn.Sequential(
            nn.Linear(10 * 3 * 3, 32),
            nn.ReLU(True),
            nn.Linear(32, 3 * 2),
        )

        # start from the identity transformation
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

    def stn(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 10 * 3 * 3)
        theta = self.fc_loc(xs).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size())
        return F.grid_sample(x, grid)

    def forward(self, x):
        x = self.stn(x)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


model = Net()
optimizer = optim.SGD(model.parameters(), lr=0.01)
losses = []


def train(epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % 500 == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")


def test():
    with torch.no_grad():
        model.eval()
        test_loss = 0
        correct = 0
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.max(1, keepdim=True)[1]
            correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        accuracy = correct / len(test_loader.dataset)
        print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)}\n")
        return accuracy


for epoch in range(1, 6 + 1):
    train(epoch)
    accuracy = test()

_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
