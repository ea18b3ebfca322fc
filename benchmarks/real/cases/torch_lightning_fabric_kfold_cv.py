"""Lightning Fabric example `examples/fabric/kfold_cv/train_fabric.py`: 5-fold cross-validation of the
PyTorch MNIST CNN, one model and optimizer per fold, trained and validated fold by fold in every epoch.

Ported (re-written to the same model, loss, optimizer, folds and loop): the CNN is that of pytorch/examples'
MNIST (two 3x3 convolutions, max-pool, dropout 0.25 / 0.5, fc 9216-128-10, `log_softmax` output) with
`F.nll_loss`; `sklearn.model_selection.KFold(n_splits=5)` (no shuffling) splits the training set; five models
with `optim.Adadelta(lr=1.0)` are set up with `fabric.setup`; in every epoch each fold builds DataLoaders with
`SubsetRandomSampler`s (batch 64), `fabric.setup_dataloaders`, trains with `fabric.backward(loss)` and validates
(summed nll, `all_gather`, torchmetrics `Accuracy(task="multiclass", num_classes=10)` in percent); the epoch's
measure is the mean validation accuracy over the folds.

Changes: the torchvision MNIST download (ToTensor + Normalize((0.1307,), (0.3081,))) becomes the local MNIST
stand-in of the same shape and normalization with 1,280 training images instead of 60,000; 2 epochs instead of
14; `Fabric()` takes its defaults (CPU here) instead of the `fabric run` command line; no dry-run or
save-model options.
"""

import argparse

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from lightning.fabric import Fabric, seed_everything
from sklearn import model_selection
from torch import nn, optim
from torch.utils.data import DataLoader, SubsetRandomSampler
from torchmetrics.classification import Accuracy


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train_dataloader(model, data_loader, optimizer, fabric, epoch, hparams, fold, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(data_loader):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        fabric.backward(loss)  # instead of loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx == 0 or (batch_idx + 1) % hparams.log_interval == 0:
            print(f"Train Epoch: {epoch} fold {fold} [{batch_idx * len(data)}/{len(data_loader.dataset)}]"
                  f"\tLoss: {loss.item():.6f}")


def validate_dataloader(model, data_loader, fabric, hparams, fold, acc_metric):
    model.eval()
    loss = 0
    with torch.no_grad():
        for data, target in data_loader:
            output = model(data)
            loss += F.nll_loss(output, target, reduction="sum").item()
            acc_metric.update(output, target)
    loss = fabric.all_gather(loss).sum() / len(data_loader.dataset)
    acc = acc_metric.compute() * 100
    print(f"\nFor fold: {fold} Validation set: Average loss: {loss:.4f}, Accuracy: ({acc:.0f}%)\n")
    return acc


def run(hparams):
    fabric = Fabric()
    seed_everything(hparams.seed)  # instead of torch.manual_seed(...)
    dataset = _data.MNISTLike(train=True, seed=hparams.seed, n_train=1280)

    kfold = model_selection.KFold(n_splits=hparams.folds)
    models = [Net() for _ in range(kfold.n_splits)]
    optimizers = [optim.Adadelta(model.parameters(), lr=hparams.lr) for model in models]
    for i in range(kfold.n_splits):
        models[i], optimizers[i] = fabric.setup(models[i], optimizers[i])
    acc_metric = Accuracy(task="multiclass", num_classes=10).to(fabric.device)

    losses = []
    epoch_acc = 0
    for epoch in range(1, hparams.epochs + 1):
        epoch_acc = 0
        for fold, (train_ids, val_ids) in enumerate(kfold.split(dataset)):
            print(f"Working on fold {fold}")
            train_loader = DataLoader(dataset, batch_size=hparams.batch_size, sampler=SubsetRandomSampler(train_ids))
            val_loader = DataLoader(dataset, batch_size=hparams.batch_size, sampler=SubsetRandomSampler(val_ids))
            train_loader, val_loader = fabric.setup_dataloaders(train_loader, val_loader)
            model, optimizer = models[fold], optimizers[fold]
            train_dataloader(model, train_loader, optimizer, fabric, epoch, hparams, fold, losses)
            epoch_acc += validate_dataloader(model, val_loader, fabric, hparams, fold, acc_metric)
            acc_metric.reset()
        print(f"Epoch {epoch} - Average acc: {epoch_acc / kfold.n_splits}")
    mean_acc = float(epoch_acc / kfold.n_splits) / 100
    _harness.report(metric=mean_acc, metric_name="mean k-fold validation accuracy", chance=0.1, losses=losses)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fabric MNIST K-Fold Cross Validation Example")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)  # parsed but unused, as in the original
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    hparams = parser.parse_args()
    hparams.seed = _harness.seed_everything() if hparams.seed is None else hparams.seed
    run(hparams)
