"""d2l-ai/d2l-en `chapter_computer-vision/kaggle-cifar10.md` (PyTorch tab) before commit 3e4d319 ("[PyTorch] Fix
hparams kaggle-cifar", #1784).

Buggy: the PyTorch tab kept the hyper-parameters of the MXNet tab, lr 0.1 (momentum 0.9, weight decay 5e-4,
``lr_period`` 50, ``lr_decay`` 0.1), but its loss is ``nn.CrossEntropyLoss(reduction="none")`` and
``d2l.train_batch_ch13`` back-propagates ``l.sum()``: the step is the sum over the 32 images of the batch, 32
times larger than a mean-loss step at the same learning rate, and the ResNet-18 does not train. Fixed, as in
the commit: lr 2e-4 with ``lr_period`` 4 and ``lr_decay`` 0.9 (the commit also raised the epochs from 5 to
20; here both variants run the same number of epochs).

Ported (re-written with the same model, loss, optimizer and loop): d2l's ``resnet18(10, 3)`` (3x3 stem conv
with BatchNorm and ReLU, four stages of two ``Residual`` blocks with 1x1-conv shortcuts where the stage
downsamples, global average pooling, a Linear head; PyTorch's default init), ``CrossEntropyLoss(reduction=
"none")`` with ``l.sum().backward()`` in ``train_batch_ch13``, ``torch.optim.SGD(lr, momentum=0.9,
weight_decay=wd)`` with ``StepLR(lr_period, lr_decay)`` stepped once per epoch, batch 32 (``demo``),
shuffled training batches with ``drop_last``, the validation accuracy in eval mode after every epoch. The
Kaggle CIFAR-10 "tiny" sample (1,000 images, 10% held out per class by ``reorg_train_valid``) becomes the
local CIFAR-10 stand-in (1,000 images, 100 held out); the torchvision transforms (Resize(40),
RandomResizedCrop(32, scale=(0.64, 1), ratio=(1, 1)), RandomHorizontalFlip, Normalize with the CIFAR-10
channel statistics) are re-written as tensor operations. The stage widths are 8/16/32/64 instead of
64/128/256/512, and 20 epochs (the fix's count) are run.
"""

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)
WIDTHS = (8, 16, 32, 64)  # d2l: 64, 128, 256, 512


class Residual(nn.Module):
    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3:
            x = self.conv3(x)
        y += x
        return F.relu(y)


def resnet18(num_classes, in_channels=1):
    def resnet_block(in_ch, out_ch, num_residuals, first_block=False):
        blk = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.append(Residual(in_ch, out_ch, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(out_ch, out_ch))
        return nn.Sequential(*blk)

    w1, w2, w3, w4 = WIDTHS
    net = nn.Sequential(nn.Conv2d(in_channels, w1, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(w1),
                        nn.ReLU())
    net.add_module("resnet_block1", resnet_block(w1, w1, 2, first_block=True))
    net.add_module("resnet_block2", resnet_block(w1, w2, 2))
    net.add_module("resnet_block3", resnet_block(w2, w3, 2))
    net.add_module("resnet_block4", resnet_block(w3, w4, 2))
    net.add_module("global_avg_pool", nn.AdaptiveAvgPool2d((1, 1)))
    net.add_module("fc", nn.Sequential(nn.Flatten(), nn.Linear(w4, num_classes)))
    return net


def to_tensor(images):  # ToTensor: (N, 3, 32, 32) floats in [0, 1]
    return torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()


def transform_train(x):  # Resize(40), RandomResizedCrop(32, (0.64, 1), (1, 1)), RandomHorizontalFlip, Normalize
    x = F.interpolate(x, size=(40, 40), mode="bilinear", align_corners=False, antialias=True)
    out = torch.empty(len(x), 3, 32, 32)
    for i in range(len(x)):
        side = int(round(40 * float(np.sqrt(np.random.uniform(0.64, 1.0)))))
        top, left = np.random.randint(0, 40 - side + 1, size=2)
        crop = x[i:i + 1, :, top:top + side, left:left + side]
        crop = F.interpolate(crop, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)[0]
        out[i] = crop.flip(-1) if np.random.rand() < 0.5 else crop
    return (out - MEAN) / STD


def transform_test(x):
    return (x - MEAN) / STD


def accuracy(y_hat, y):
    return float((y_hat.argmax(dim=1).type(y.dtype) == y).sum())


def train_batch_ch13(net, x, y, loss, trainer):
    net.train()
    trainer.zero_grad()
    pred = net(x)
    l = loss(pred, y)  # noqa: E741
    l.sum().backward()
    trainer.step()
    return l.sum(), accuracy(pred, y)


def evaluate_accuracy_gpu(net, x_all, y_all, batch_size):
    net.eval()
    correct, total = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x_all) - batch_size + 1, batch_size):  # drop_last=True
            x, y = transform_test(x_all[start:start + batch_size]), y_all[start:start + batch_size]
            correct += accuracy(net(x), y)
            total += len(y)
    return correct / total


def train(net, data, num_epochs, lr, wd, lr_period, lr_decay, batch_size, losses):
    x_train, y_train, x_valid, y_valid = data
    trainer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    scheduler = torch.optim.lr_scheduler.StepLR(trainer, lr_period, lr_decay)
    valid_acc = 0.0
    for epoch in range(num_epochs):
        net.train()
        loss_sum, acc_sum, n = 0.0, 0.0, 0
        order = torch.randperm(len(x_train))
        for start in range(0, len(order) - batch_size + 1, batch_size):  # shuffle=True, drop_last=True
            idx = order[start:start + batch_size]
            l, acc = train_batch_ch13(net, transform_train(x_train[idx]), y_train[idx], loss, trainer)  # noqa: E741
            loss_sum, acc_sum, n = loss_sum + float(l), acc_sum + acc, n + len(idx)
            losses.append(float(l) / len(idx))
        valid_acc = evaluate_accuracy_gpu(net, x_valid, y_valid, batch_size)
        scheduler.step()
        print(f"epoch {epoch + 1}: loss {loss_sum / n:.3f}, train acc {acc_sum / n:.3f}, valid acc {valid_acc:.3f}")
    return valid_acc


_harness.seed_everything()
(x_all, y_all), _ = _data.cifar10_load_data(seed=_harness.seed(), n_train=1000, n_test=10)
x_all, y_all = to_tensor(x_all), torch.from_numpy(y_all[:, 0].astype(np.int64))
valid_idx = torch.cat([torch.nonzero(y_all == c)[:10, 0] for c in range(10)])  # 10% of each class held out
train_mask = torch.ones(len(y_all), dtype=torch.bool)
train_mask[valid_idx] = False
data = (x_all[train_mask], y_all[train_mask], x_all[valid_idx], y_all[valid_idx])

batch_size = 32
loss = nn.CrossEntropyLoss(reduction="none")
net = resnet18(10, 3)
num_epochs, wd = 20, 5e-4
if _harness.buggy():  # the bug: the MXNet tab's lr for a loss summed over the batch
    lr, lr_period, lr_decay = 0.1, 50, 0.1
else:
    lr, lr_period, lr_decay = 2e-4, 4, 0.9
losses = []
valid_acc = train(net, data, num_epochs, lr, wd, lr_period, lr_decay, batch_size, losses)
_harness.report(metric=valid_acc, metric_name="accuracy", chance=0.1, losses=losses)
