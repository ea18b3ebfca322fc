"""PyTorch tutorial "Learning PyTorch with Examples", `beginner_source/examples_nn/dynamic_net.py`
("PyTorch: Control Flow + Weight Sharing"): a polynomial nn.Module of five scalar nn.Parameters whose
forward draws with Python's random.randint how many extra orders to add (x^4, or x^4 and x^5), reusing the
same parameter e for each, fitted to sin(x) on [-pi, pi] with MSELoss(reduction='sum') and SGD with momentum.

Ported (re-written to the same module, random control flow, data, loss, optimizer, hyper-parameters and
loop): parameters a..e drawn torch.randn(()); forward y = a + b x + c x^2 + d x^3, then
for exp in range(4, random.randint(4, 6)): y = y + e x^exp; x = 2,000 points of linspace(-pi, pi),
y = sin(x); torch.nn.MSELoss(reduction='sum'); torch.optim.SGD(lr=1e-8, momentum=0.9); 30,000 iterations
of forward, loss, zero_grad, backward, step.

Changes: nothing shrinks (the tutorial's 30,000 iterations run in seconds); the parameters and the random
orders follow the benchmark seed; every iteration's loss is recorded for the report. Metric: R^2 against
sin(x) of the trained model's forward (with its random orders) on 1,000 fresh uniform points of [-pi, pi].
"""

import math
import random

import _harness
import torch

seed = _harness.seed_everything()


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        # 4 or 5 orders, chosen at random on every call; e is reused for each extra order
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        return (f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3 + "
                f"{self.e.item()} x^4 ? + {self.e.item()} x^5 ?")


x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

model = DynamicNet()

# plain SGD struggles with this model, so momentum
criterion = torch.nn.MSELoss(reduction="sum")
optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
losses = []
for t in range(30000):
    y_pred = model(x)

    loss = criterion(y_pred, y)
    if t % 2000 == 1999:
        print(t, loss.item())
    losses.append(loss.item())

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

print(f"Result: {model.string()}")

x_test = torch.empty(1000).uniform_(-math.pi, math.pi, generator=torch.Generator().manual_seed(seed + 1))
with torch.no_grad():
    y_hat = model(x_test)
y_true = torch.sin(x_test)
r2 = 1 - float(((y_hat - y_true) ** 2).sum() / ((y_true - y_true.mean()) ** 2).sum())
_harness.report(metric=r2, metric_name="r2", chance=0.0, losses=losses)
