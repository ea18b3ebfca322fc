"""discuss.pytorch.org thread 96648, "Neural network could not learn on this type of data, why?": a 1-50-1
ReLU MLP fit with Adam and MSELoss to y = x**3 for x = 1 .. 3999.

Buggy: the network sees the raw data, inputs up to 4,000 and targets up to 6.4e10. The loss is around 1e20,
Adam moves each weight by about lr = 1e-3 per step, and after the whole run the predictions are still orders
of magnitude below the targets. Fixed, as the answer (post 5) gives it: standardize the input and the target
with their mean and std, train on the normalized target, and un-normalize the predictions afterwards.

The thread's answer shows the whole program ("a code snippet using your initial dataset, which can
successfully learn the data using this approach"); the buggy variant is that same program without the two
normalization steps, i.e. trained on the data as the original post did. Same model, loss, optimizer and
1,000 full-batch epochs; the plot is dropped. As a held-out measure we add R^2 of the (un-normalized)
predictions at the midpoints x + 0.5.
"""

import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

_harness.seed_everything()


class Network(nn.Module):
    def __init__(self):
        super(Network, self).__init__()
        self.fc1 = nn.Linear(in_features=1, out_features=50, bias=True)
        self.fc2 = nn.Linear(in_features=50, out_features=1, bias=True)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x


model = Network()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.MSELoss()

input = torch.tensor([x for x in range(1, 4000)]).float()  # noqa: A001
target = torch.tensor([(d ** 3) for d in input]).float()
input = input.unsqueeze(1)  # noqa: A001
target = target.unsqueeze(1)
held_x = input + 0.5
held_y = held_x ** 3

input_mean, input_std = torch.tensor(0.0), torch.tensor(1.0)
target_mean, target_std = torch.tensor(0.0), torch.tensor(1.0)
if not _harness.buggy():  # the bug: neither the input nor the target is normalized
    # normalize input
    input_mean = torch.mean(input)
    input_std = torch.std(input)
    # normalize target
    target_mean = torch.mean(target)
    target_std = torch.std(target)
input = (input - input_mean) / input_std  # noqa: A001
target_norm = (target - target_mean) / target_std

losses = []
for epoch in range(1000):
    optimizer.zero_grad()
    out = model(input)
    loss = criterion(out, target_norm)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if epoch % 100 == 0:
        print('Epoch {}, loss {}, max. pred val {}'.format(epoch, loss.item(), out.max()))

with torch.no_grad():
    pred = model((held_x - input_mean) / input_std)
    # unnormalize prediction
    pred = pred * target_std + target_mean
    r2 = 1.0 - torch.sum((pred.double() - held_y.double()) ** 2) / torch.sum((held_y.double() - held_y.double().mean()) ** 2)
print("held-out R^2:", float(r2))
_harness.report(metric=float(r2), metric_name="r2", chance=0.0, losses=losses)
