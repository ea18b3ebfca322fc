"""jeffheaton/t81_558_deep_learning (branch ``pytorch``), ``t81_558_class_04_3_regression.ipynb``, the regression
of age on the course's "simple" data set, before commit d6ba39d ("Fixed regression example for pytorch 4.3").

Buggy: the network's one-unit output goes through ``nn.Softmax(dim=1)``. The softmax of a single value is always
1, so every prediction is 1.0 whatever the weights, no gradient reaches the network and the MSE against ages of
around 46 stays near 2,000; early stopping gives up after six epochs. Besides, the (N, 1) predictions are compared
with (N,) targets, which ``nn.MSELoss`` broadcasts to an (N, N) matrix, and Adam runs at lr 0.01. The commit
fixes all three lines: it comments the softmax out (the forward pass returns ``fc3``'s output), flattens the
predictions before the loss (training step and validation loss) and leaves Adam at its default lr (0.001).

Ported (re-written): ``Net`` (Linear(in, 50) -> ReLU -> Linear(50, 25) -> ReLU -> Linear(25, 1), and in the buggy
variant the softmax module), the ``EarlyStopping`` helper (patience 5, min_delta 1e-2, restore the best weights),
``nn.MSELoss``, Adam, batch 16, the ``while epoch < 1000 and not done`` loop that validates after the last batch of
each epoch, and the data preparation: dummies for job, area and product, the median for missing incomes, z-scores
of income, aspect, save_rate and subscriptions, all columns but id and age as inputs, age as target,
``train_test_split(test_size=0.25, random_state=42)``. The CSV becomes the stand-in ``_data.jh_simple_dataset``;
the notebook's scores are the test MSE and RMSE, reported here with the test R^2 as the measure.
"""

import copy

import _data
import _harness
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.stats import zscore
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

_harness.seed_everything()
device = "cpu"


class EarlyStopping:
    def __init__(self, patience=5, min_delta=1e-2, restore_best_weights=True):
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


# the data set, one numpy column per CSV column
df = _data.jh_simple_dataset(seed=_harness.seed())
columns = {name: values for name, values in df.items() if name not in ("job", "area", "product")}
for name in ("job", "area", "product"):  # pd.get_dummies(df[name], prefix=name), the column dropped
    for level in np.unique(df[name]):
        columns[f"{name}_{level}"] = (df[name] == level).astype(np.float64)
columns["income"] = np.where(np.isnan(columns["income"]), np.nanmedian(columns["income"]), columns["income"])
for name in ("income", "aspect", "save_rate", "subscriptions"):
    columns[name] = zscore(columns[name])
x_columns = [name for name in columns if name not in ("age", "id")]
x = np.stack([columns[name] for name in x_columns], axis=1).astype(np.float64)
y = columns["age"].astype(np.float64)


class Net(nn.Module):
    def __init__(self, in_count, out_count):
        super().__init__()
        self.fc1 = nn.Linear(in_count, 50)
        self.fc2 = nn.Linear(50, 25)
        self.fc3 = nn.Linear(25, out_count)
        if _harness.buggy():
            self.softmax = nn.Softmax(dim=1)  # the bug: a softmax over the single output unit

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        if _harness.buggy():
            return self.softmax(self.fc3(x))  # the bug
        return self.fc3(x)


x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=42)
x_train = torch.Tensor(x_train).float()
y_train = torch.Tensor(y_train).float()
x_test = torch.Tensor(x_test).float().to(device)
y_test = torch.Tensor(y_test).float().to(device)

BATCH_SIZE = 16
dataloader_train = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH_SIZE, shuffle=True)

model = Net(x.shape[1], 1).to(device)
loss_fn = nn.MSELoss()
if _harness.buggy():
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)  # the bug (lr, changed by the same commit)
else:
    optimizer = torch.optim.Adam(model.parameters())
es = EarlyStopping()

losses = []
epoch = 0
done = False
while epoch < 1000 and not done:
    epoch += 1
    steps = list(enumerate(dataloader_train))
    model.train()
    for i, (x_batch, y_batch) in steps:
        out = model(x_batch.to(device))
        y_batch_pred = out if _harness.buggy() else out.flatten()  # the bug: (16, 1) against (16,)
        loss = loss_fn(y_batch_pred, y_batch.to(device))
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
mse = float(((pred - y_test) ** 2).mean())
print(f"Final score (MSE): {mse}")
print(f"Final score (RMSE): {np.sqrt(mse)}")
r2 = 1.0 - mse / float(y_test.var(unbiased=False))
_harness.report(metric=r2, metric_name="R^2 (held-out rows)", chance=0.0, losses=losses, rmse=float(np.sqrt(mse)),
                epochs=epoch)
