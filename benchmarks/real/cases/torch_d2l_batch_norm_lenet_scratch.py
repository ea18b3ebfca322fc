"""d2l-en "Batch Normalization" (chapter_convolutional-modern/batch-norm.md, PyTorch tab): LeNet with batch
normalization implemented from scratch, trained on Fashion-MNIST with d2l's ``Trainer``.

Ported (re-written with the same layer, model, init, loss, optimizer and loop): ``batch_norm`` (batch
statistics while gradients are enabled, the moving averages (momentum 0.1, eps 1e-5) under ``no_grad``) and
the ``BatchNorm`` module (gamma 1 / beta 0 parameters, moving mean 0 / variance 1 kept as plain tensors);
``BNLeNetScratch``: Conv2d(1, 6, 5) -> BatchNorm -> Sigmoid -> AvgPool(2) -> Conv2d(6, 16, 5) -> BatchNorm ->
Sigmoid -> AvgPool(2) -> Flatten -> Linear(256, 120) -> BatchNorm -> Sigmoid -> Linear(120, 84) -> BatchNorm ->
Sigmoid -> Linear(84, 10) (the Lazy layers with their inferred sizes), ``d2l.init_cnn`` (xavier-uniform weights
of every Linear / Conv2d); ``d2l.Classifier``: mean cross-entropy, SGD lr 0.1; ``d2l.Trainer.fit``: per epoch
``model.train()``, forward, ``zero_grad``, backward and step under ``torch.no_grad()`` as d2l does, then
``model.eval()`` and the validation accuracy of every batch under ``no_grad``; 10 epochs, batch 128.

Changes: ``d2l.FashionMNIST(batch_size=128)`` (the download, ``ToTensor``) becomes
``_data.fashion_mnist_load_data`` with 6,000 training and 1,000 validation images (the book: 60,000 /
10,000) scaled to [0, 1]; the plots and GPU selection go; the seed comes from the benchmark. The reported
measure is the validation accuracy of the last epoch (what d2l plots as ``val_acc``).
"""

import _data
import _harness
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, TensorDataset

MAX_EPOCHS = 10

_harness.seed_everything()


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
        return Y


def init_cnn(module):
    if type(module) is nn.Linear or type(module) is nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)


class BNLeNetScratch(nn.Module):
    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4),
            nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4),
            nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
            BatchNorm(120, num_dims=2), nn.Sigmoid(), nn.Linear(120, 84),
            BatchNorm(84, num_dims=2), nn.Sigmoid(),
            nn.Linear(84, num_classes))
        self.train_losses, self.val_accs = [], []

    def forward(self, X):
        return self.net(X)

    def loss(self, Y_hat, Y):
        return F.cross_entropy(Y_hat.reshape((-1, Y_hat.shape[-1])), Y.reshape((-1,)), reduction='mean')

    def accuracy(self, Y_hat, Y):
        preds = Y_hat.reshape((-1, Y_hat.shape[-1])).argmax(axis=1).type(Y.dtype)
        return (preds == Y.reshape(-1)).type(torch.float32).mean()

    def training_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.train_losses.append(loss.item())
        return loss

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        return self.accuracy(Y_hat, batch[-1]).item()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), self.lr)


class Trainer:
    def __init__(self, max_epochs):
        self.max_epochs = max_epochs

    def fit(self, model, train_dataloader, val_dataloader):
        self.optim = model.configure_optimizers()
        for epoch in range(self.max_epochs):
            model.train()
            for batch in train_dataloader:
                loss = model.training_step(batch)
                self.optim.zero_grad()
                with torch.no_grad():
                    loss.backward()
                    self.optim.step()
            model.eval()
            accs = []
            for batch in val_dataloader:
                with torch.no_grad():
                    accs.append(model.validation_step(batch))
            model.val_accs.append(sum(accs) / len(accs))
            print(f"epoch {epoch + 1}: train loss {model.train_losses[-1]:.3f}, val acc {model.val_accs[-1]:.3f}")


(x_train, y_train), (x_val, y_val) = _data.fashion_mnist_load_data(seed=_harness.seed(), n_train=6000,
                                                                  n_test=1000)


def to_dataset(x, y):  # ToTensor(): uint8 HxW -> float (1, H, W) in [0, 1]
    return TensorDataset(torch.from_numpy(x).float().div(255).unsqueeze(1), torch.from_numpy(y).long())


train_loader = DataLoader(to_dataset(x_train, y_train), batch_size=128, shuffle=True)
val_loader = DataLoader(to_dataset(x_val, y_val), batch_size=128, shuffle=False)

trainer = Trainer(max_epochs=MAX_EPOCHS)
model = BNLeNetScratch(lr=0.1)
model.apply(init_cnn)
trainer.fit(model, train_loader, val_loader)

_harness.report(metric=model.val_accs[-1], metric_name="accuracy", chance=0.1, losses=model.train_losses)
