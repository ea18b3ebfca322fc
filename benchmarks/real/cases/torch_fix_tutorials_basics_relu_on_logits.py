"""pytorch/tutorials "Learn the Basics: Optimizing Model Parameters" (beginner_source/basics/
optimization_tutorial.py) as it was before PR #1644 / #1654 (issue #1526, "Bug on model definition part").

Buggy: ``NeuralNetwork.linear_relu_stack`` ends ``nn.Linear(512, 10), nn.ReLU()``: the "logits" handed to
``nn.CrossEntropyLoss`` are rectified, so a class whose output unit goes negative for an input gets logit 0
and no gradient through that unit. Fixed, as in the PRs: the final ``nn.ReLU()`` is removed and the last
``nn.Linear(512, 10)`` returns the logits.

Ported (re-written with the same model, loss, optimizer, hyper-parameters and loops): FashionMNIST with
``ToTensor()`` (pixels / 255, shape (1, 28, 28)); ``DataLoader(..., batch_size=64)`` without shuffling for
both sets; ``Flatten -> Linear(784, 512) -> ReLU -> Linear(512, 512) -> ReLU -> Linear(512, 10) [-> ReLU]``;
``nn.CrossEntropyLoss()``; ``torch.optim.SGD(lr=1e-3)``; ``train_loop`` (forward, loss, zero_grad,
backward, step, a print every 100 batches) and ``test_loop`` (mean batch loss and accuracy) for 10 epochs.
The FashionMNIST download becomes ``_data.fashion_mnist_load_data`` (same shapes and uint8 range) with
20,000 training and 2,000 test images instead of 60,000 / 10,000. The reported measure is the last
``test_loop`` accuracy.
"""

import _data
import _harness
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

_harness.seed_everything()

(x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=_harness.seed(), n_train=20000,
                                                                      n_test=2000)


def to_tensor_dataset(x, y):  # ToTensor(): uint8 HxW -> float (1, H, W) in [0, 1]
    return TensorDataset(torch.from_numpy(x).float().div(255).unsqueeze(1), torch.from_numpy(y).long())


training_data = to_tensor_dataset(x_train, y_train)
test_data = to_tensor_dataset(x_test, y_test)

train_dataloader = DataLoader(training_data, batch_size=64)
test_dataloader = DataLoader(test_data, batch_size=64)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        layers = [
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        ]
        if _harness.buggy():
            layers.append(nn.ReLU())  # the bug: a ReLU after the output layer, on the logits
        self.linear_relu_stack = nn.Sequential(*layers)

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork()

learning_rate = 1e-3
batch_size = 64
epochs = 10
losses = []


def train_loop(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        pred = model(X)
        loss = loss_fn(pred, y)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

        if batch % 100 == 0:
            loss, current = loss.item(), batch * batch_size + len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test_loop(dataloader, model, loss_fn):
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return correct


loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

for t in range(epochs):
    print(f"Epoch {t + 1}\n-------------------------------")
    train_loop(train_dataloader, model, loss_fn, optimizer)
    accuracy = test_loop(test_dataloader, model, loss_fn)
print("Done!")

_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
