"""pytorch/examples `regression/main.py`: a single linear layer fits a degree-4 polynomial.

Ported (re-written to the same data rule, model, loss, update rule and loop): the target is
y = x W + b with W ~ 5 N(0, 1) (4x1) and b ~ 5 N(0, 1) on the features [x, x^2, x^3, x^4] of x ~ N(0, 1);
the model is `nn.Linear(4, 1)`; each batch of 32 fresh samples: `fc.zero_grad()`, `F.smooth_l1_loss`,
backward, and the example's hand-written step `param.data.add_(-0.1 * param.grad)`; the loop runs until the
batch loss falls below 1e-3. The data are the example's own (generated); nothing downloads or shrinks, so
the port changes nothing but a cap of 20,000 batches on the `count(1)` loop and the measure: the R^2 of the
learned function on 1,000 fresh samples.
"""

from itertools import count

import _harness
import torch
import torch.nn.functional as F  # noqa: N812

_harness.seed_everything()

POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    """Approximated function."""
    return x.mm(W_target) + b_target.item()


def poly_desc(W, b):
    """Creates a string description of a polynomial."""
    result = "y = "
    for i, w in enumerate(W):
        result += f"{w:+.2f} x^{i + 1} "
    return result + f"{b[0]:+.2f}"


def get_batch(batch_size=32):
    """Builds a batch i.e. (x, f(x)) pair."""
    x = make_features(torch.randn(batch_size))
    return x, f(x)


fc = torch.nn.Linear(W_target.size(0), 1)
losses = []
for batch_idx in count(1):
    batch_x, batch_y = get_batch()
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    losses.append(loss)
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)
    if loss < 1e-3 or batch_idx >= 20000:  # (the cap is the port's)
        break

print(f"Loss: {loss:.6f} after {batch_idx} batches")
print("==> Learned function:\t" + poly_desc(fc.weight.view(-1), fc.bias))
print("==> Actual function:\t" + poly_desc(W_target.view(-1), b_target))

with torch.no_grad():
    test_x, test_y = get_batch(1000)
    r2 = 1.0 - (fc(test_x) - test_y).pow(2).mean().item() / test_y.var(unbiased=False).item()
_harness.report(metric=r2, metric_name="R^2", chance=0.0, losses=losses)
