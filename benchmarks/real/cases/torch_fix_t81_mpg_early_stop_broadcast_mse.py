"""jeffheaton/t81_558_deep_learning (branch ``pytorch``), ``t81_558_class_03_4_early_stop.ipynb``, the auto-mpg
regression with early stopping, before commit a8833aa ("Updated module 3 for videos").

Buggy: the network ends in ``Linear(25, 1)``, so its predictions have shape (N, 1) while the targets have shape
(N,); ``nn.MSELoss`` broadcasts the pair to an (N, N) matrix and averages the squared difference between every
prediction and every target, whose minimum is reached by predicting the batch mean for every car: the network
learns nothing about the inputs (PyTorch only warns about the size mismatch). The validation loss that drives the
early stopping is computed the same way. Fixed, as in the commit: ``model(x_batch).flatten()`` in the training step
and ``model(x_test).flatten()`` for the validation loss.

Ported (re-written): the ``Net`` of the notebook (Linear(7, 50) -> ReLU -> Linear(50, 25) -> ReLU -> Linear(25, 1)),
its ``EarlyStopping`` helper (patience 5, min_delta 0, restore the best weights), ``nn.MSELoss``, Adam with lr 0.01,
batch 16, the ``while epoch < 1000 and not done`` loop that validates after the last batch of every epoch, and the
data preparation (horsepower's missing values filled with the median, the seven raw numeric columns as inputs,
``train_test_split(test_size=0.25, random_state=42)``). The auto-mpg CSV becomes ``_data.auto_mpg`` (800 cars
instead of 398); the notebook's final score is the test RMSE, reported here with the test R^2 as the measure.
"""

import copy

import _data
import _harness
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

_harness.seed_everything()
device = "cpu"


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0, restore_best_weights=True):
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best_model = None
        self.best_loss = None
        self.counter = 0
        self.status = ""

    def __call__(self, model, val_loss):
        if self.best_loss is None:
            self.best_loss = val_loss
            self.best_model = copy.deepcopy(model)
        elif self.best_loss - val_loss > self.min_delta:
            self.best_loss = val_loss
            self.counter = 0
            self.best_model.load_state_dict(model.state_dict())
        elif self.best_loss - val_loss < self.min_delta:
            self.counter += 1
            if self.counter >= self.patience:
                self.status = f"Stopped on {self.counter}"
                if self.restore_best_weights:
                    model.load_state_dict(self.best_model.state_dict())
                return True
        self.status = f"{self.counter}/{self.patience}"
        return False


class Net(nn.Module):
    def __init__(self, in_count, out_count):
        super().__init__()
        self.fc1 = nn.Linear(in_count, 50)
        self.fc2 = nn.Linear(50, 25)
        self.fc3 = nn.Linear(25, 1)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


# the MPG data set
df = _data.auto_mpg(seed=_harness.seed(), n=800)
df["horsepower"] = np.where(np.isnan(df["horsepower"]), np.nanmedian(df["horsepower"]), df["horsepower"])
x = np.stack([df[c] for c in ("cylinders", "displacement", "horsepower", "weight", "acceleration", "year",
                              "origin")], axis=1).astype(np.float64)
y = df["mpg"]

x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=42)
x_train = torch.tensor(x_train, device=device, dtype=torch.float32)
y_train = torch.tensor(y_train, device=device, dtype=torch.float32)
x_test = torch.tensor(x_test, device=device, dtype=torch.float32)
y_test = torch.tensor(y_test, device=device, dtype=torch.float32)

BATCH_SIZE = 16
dataloader_train = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH_SIZE, shuffle=True)

model = Net(x.shape[1], 1).to(device)
loss_fn = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
es = EarlyStopping()

losses = []
epoch = 0
done = False
while epoch < 1000 and not done:
    epoch += 1
    steps = list(enumerate(dataloader_train))
    model.train()
    for i, (x_batch, y_batch) in steps:
        # the bug: without .flatten() the (16, 1) predictions broadcast against the (16,) targets
        y_batch_pred = model(x_batch) if _harness.buggy() else model(x_batch).flatten()  # the bug
        loss = loss_fn(y_batch_pred, y_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        loss = loss.item()
        losses.append(loss)
        if i == len(steps) - 1:
            model.eval()
            pred = model(x_test) if _harness.buggy() else model(x_test).flatten()  # the bug
            vloss = loss_fn(pred, y_test)
            if es(model, vloss):
                done = True
    if epoch % 10 == 0 or done:
        print(f"Epoch: {epoch}, tloss: {loss:.4f}, vloss: {float(vloss):.4f}, EStop:[{es.status}]")

with torch.no_grad():
    pred = model(x_test).flatten()
score = torch.sqrt(F.mse_loss(pred, y_test))
print(f"Final score (RMSE): {float(score):.4f}")
r2 = 1.0 - float(((pred - y_test) ** 2).mean() / y_test.var(unbiased=False))
_harness.report(metric=r2, metric_name="R^2 (held-out cars)", chance=0.0, losses=losses, rmse=float(score),
                epochs=epoch)
