"""NervanaSystems/distiller `examples/classifier_compression/compress_classifier.py` training `simplenet_cifar`
(the README's training-only example, ``--arch simplenet_cifar``), with the model-loading code
of `models/__init__.py` before commit 0a8a3b3 ("Bug fix: remove softmax layer from model loading code"), a
fault of Humbatova et al.'s taxonomy of real faults (ICSE 2020, tag "redundant softmax layer").

Buggy: ``create_model`` wraps the network's ``forward`` so that it returns ``softmax(logits)``, and
training feeds those probabilities to ``nn.CrossEntropyLoss``, which applies its own log-softmax: the loss
sees inputs squeezed into [0, 1] and the gradients shrink. Fixed, as in the commit: the wrapper is removed
and the loss gets the logits.

Ported with the same model (Simplenet: conv 3->6 5x5, max-pool, conv 6->16 5x5, max-pool, fc 400->120->84->10,
ReLUs), loss, optimizer (SGD with the script's defaults: lr 0.1, momentum 0.9, weight decay 1e-4; the
README example passes ``--lr=0.01``, which does not get past chance in the shortened run), batch size 256,
data pipeline
(90:10 train/validation split, RandomCrop(32, padding=4) + RandomHorizontalFlip, Normalize(0.5, 0.5)) and
loop (train an epoch, validate, test at the end). The CIFAR-10 download becomes the local stand-in (5,000 /
1,000 images); the torchvision transforms are re-written as tensor operations; 20 epochs instead of 90; no
CUDA, DataParallel, compression scheduler, loggers or checkpoints.
"""

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

_harness.seed_everything()

epochs = 20
batch_size = 256
lr, momentum, weight_decay = 0.1, 0.9, 1e-4
valid_size = 0.1


class Simplenet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def create_model():
    model = Simplenet()
    if _harness.buggy():  # the bug: a softmax appended to the model's output, then fed to CrossEntropyLoss
        model.original_forward = model.forward
        softmax = nn.Softmax(dim=1)
        model.forward = lambda inputs: softmax(model.original_forward(inputs))
    return model


def to_tensor(images):  # ToTensor + Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    return (x - 0.5) / 0.5


def augment(x):  # RandomCrop(32, padding=4) + RandomHorizontalFlip, per image
    n = len(x)
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = torch.from_numpy(np.random.randint(0, 9, size=(n, 2)))
    rows = (offsets[:, 0:1] + torch.arange(32))[:, :, None]  # (n, 32, 1)
    cols = (offsets[:, 1:2] + torch.arange(32))[:, None, :]  # (n, 1, 32)
    flip = torch.from_numpy(np.random.rand(n) < 0.5)[:, None, None]
    cols = torch.where(flip, cols.flip(-1), cols)
    out = padded[torch.arange(n)[:, None, None], :, rows, cols]  # (n, 32, 32, C)
    return out.permute(0, 3, 1, 2).contiguous()


(x_train, y_train), (x_test, y_test) = _data.cifar10_load_data(seed=_harness.seed())
x_all, y_all = to_tensor(x_train), torch.from_numpy(y_train[:, 0].astype(np.int64))
indices = np.arange(len(x_all))
np.random.shuffle(indices)
split = int(np.floor(valid_size * len(indices)))
train_idx, valid_idx = indices[split:], indices[:split]
x_test, y_test = to_tensor(x_test), torch.from_numpy(y_test[:, 0].astype(np.int64))

model = create_model()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def evaluate(x, y):
    model.eval()
    with torch.no_grad():
        output = model(x)
        return (output.argmax(1) == y).float().mean().item(), criterion(output, y).item()


losses = []
for epoch in range(epochs):
    model.train()
    order = np.random.permutation(train_idx)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        inputs, target = augment(x_all[idx]), y_all[idx]
        output = model(inputs)
        loss = criterion(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    top1, vloss = evaluate(x_all[valid_idx], y_all[valid_idx])
    print(f"epoch {epoch}: train loss {np.mean(losses[-10:]):.4f}  valid top1 {top1:.4f}  loss {vloss:.4f}")

top1, _ = evaluate(x_test, y_test)
print(f"test top1 {top1:.4f}")
_harness.report(metric=top1, metric_name="accuracy", chance=0.1, losses=losses)
