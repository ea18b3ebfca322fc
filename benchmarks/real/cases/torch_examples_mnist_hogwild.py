"""pytorch/examples `mnist_hogwild` (main.py + train.py): Hogwild! training of the classic MNIST LeNet by
several processes at once. The parent builds the model, moves its parameters to shared memory
(model.share_memory()) and starts `num_processes` torch.multiprocessing processes (start method "spawn");
each process seeds torch with seed + rank, makes its own shuffled DataLoader and its own SGD optimizer over
the shared parameters and trains them concurrently without locks; the parent joins them and tests the
shared model.

Ported (re-written to the same model, loss, optimizer, hyper-parameters, process layout and loop): Net =
Conv2d(1, 10, 5) -> max-pool 2 -> relu -> Conv2d(10, 20, 5) -> Dropout2d -> max-pool 2 -> relu ->
view(-1, 320) -> Linear(320, 50) -> relu -> dropout -> Linear(50, 10) -> log_softmax; F.nll_loss;
optim.SGD(lr=0.01, momentum=0.5) per process; batch size 64, shuffle; 2 processes; torch.manual_seed(seed)
in the parent before the model, seed + rank in each process; the test set in batches of 64 (the example
passes the training DataLoader kwargs to the test loader too).

Changes: torchvision MNIST (60,000 / 10,000 with ToTensor + Normalize((0.1307,), (0.3081,))) ->
_data.MNISTLike (3,000 / 1,000 normalized the same way); 5 epochs per process instead of 10; argparse goes
(the defaults are used), CUDA / MPS selection and model saving go; the benchmark seed replaces the default
seed 1; each process sends its batch losses back to the parent through a torch.multiprocessing Queue, and the
test returns its accuracy, for the report. Metric: test accuracy of the shared model; chance 0.1.
"""

import os
from types import SimpleNamespace

import _data
import _harness
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


# --- train.py ---

def train(rank, args, model, device, dataset, dataloader_kwargs, loss_queue):
    torch.manual_seed(args.seed + rank)
    train_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    losses = []
    for epoch in range(1, args.epochs + 1):
        losses += train_epoch(epoch, args, model, device, train_loader, optimizer)
    loss_queue.put(losses)


def test(args, model, device, dataset, dataloader_kwargs):
    torch.manual_seed(args.seed)
    test_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
    return test_epoch(model, device, test_loader)


def train_epoch(epoch, args, model, device, data_loader, optimizer):
    model.train()
    pid = os.getpid()
    losses = []
    for batch_idx, (data, target) in enumerate(data_loader):
        optimizer.zero_grad()
        output = model(data.to(device))
        loss = F.nll_loss(output, target.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print("{}\tTrain Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                pid, epoch, batch_idx * len(data), len(data_loader.dataset),
                100.0 * batch_idx / len(data_loader), loss.item()))
    return losses


def test_epoch(model, device, data_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in data_loader:
            output = model(data.to(device))
            test_loss += F.nll_loss(output, target.to(device), reduction="sum").item()  # sum up batch loss
            pred = output.max(1)[1]  # the index of the max log-probability
            correct += pred.eq(target.to(device)).sum().item()
    test_loss /= len(data_loader.dataset)
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n".format(
        test_loss, correct, len(data_loader.dataset), 100.0 * correct / len(data_loader.dataset)))
    return correct / len(data_loader.dataset)


# --- main.py ---

if __name__ == "__main__":
    # the example's argparse defaults (epochs 5 instead of 10, the benchmark seed instead of 1)
    args = SimpleNamespace(batch_size=64, test_batch_size=1000, epochs=5, lr=0.01, momentum=0.5,
                           seed=_harness.seed(), log_interval=10, num_processes=2)
    _harness.seed_everything()
    device = torch.device("cpu")

    dataset1 = _data.MNISTLike(train=True, seed=args.seed, n_train=3000, n_test=1000)
    dataset2 = _data.MNISTLike(train=False, seed=args.seed, n_train=3000, n_test=1000)
    kwargs = {"batch_size": args.batch_size, "shuffle": True}

    torch.manual_seed(args.seed)
    mp.set_start_method("spawn", force=True)

    model = Net().to(device)
    model.share_memory()  # gradients are allocated lazily, so they are not shared here

    loss_queue = mp.Queue()
    processes = []
    for rank in range(args.num_processes):
        p = mp.Process(target=train, args=(rank, args, model, device, dataset1, kwargs, loss_queue))
        # train the model across num_processes processes
        p.start()
        processes.append(p)
    losses = []
    for _ in processes:
        losses += loss_queue.get()
    for p in processes:
        p.join()

    # once training is complete, test the model
    accuracy = test(args, model, device, dataset2, kwargs)
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
