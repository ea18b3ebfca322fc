"""greebear/pytorch-learning issue #1 ("this linear_regression demo cannot work well in pytorch 1.0.1"):
the one-variable linear regression of week1-D3-D4.ipynb (the course's lesson-03 script) updates ``w`` and
``b`` by hand with ``p.data.sub_(lr * p.grad)`` after ``loss.backward()`` but never zeroes the gradients, so
each step follows the sum of every gradient seen so far; "the loss is not always decreasing, even lr is very
small". Fixed in commit bcc4b9a ("fix linear_regression bug"): ``w.grad.zero_()`` and ``b.grad.zero_()``
after the update.

Ported (re-written with the same data, model, loss, update rule and loop): 200 points x ~ U(0, 10),
y = 3 x + 5 + N(0, 1); w ~ N(0, 1) and b = 0 as leaf tensors; y_pred = w * x + b; loss = mean(0.5 (y - y_pred)^2)
over the full batch; lr 0.01; 10,000 full-batch iterations. The plots go, and with them the break nested in
the plotting block (stop once the loss is below 0.55), so both variants run all 10,000 iterations; the seed
comes from the benchmark instead of ``torch.manual_seed(10)``. The notebook has no evaluation; the reported
measure is the R^2 on 1,000 more points drawn from the same rule.
"""

import _harness
import torch

_harness.seed_everything()

lr = 0.01
best_loss = float("inf")

x = torch.rand(200, 1) * 10
y = 3 * x + (5 + torch.randn(200, 1))

w = torch.randn((1), requires_grad=True)
b = torch.zeros((1), requires_grad=True)

losses = []
for iteration in range(10000):
    wx = torch.mul(w, x)
    y_pred = torch.add(wx, b)
    loss = (0.5 * (y - y_pred) ** 2).mean()
    loss.backward()

    current_loss = loss.item()
    losses.append(current_loss)
    if current_loss < best_loss:
        best_loss = current_loss
        best_w = w
        best_b = b

    if iteration % 1000 == 0:
        print(f"iteration {iteration}: loss {current_loss:.4f} w {w.item():.4f} b {b.item():.4f}")

    w.data.sub_(lr * w.grad)
    b.data.sub_(lr * b.grad)
    if not _harness.buggy():  # the bug: without these two lines the gradients accumulate
        w.grad.zero_()
        b.grad.zero_()

x_test = torch.rand(1000, 1) * 10
y_test = 3 * x_test + (5 + torch.randn(1000, 1))
with torch.no_grad():
    pred = w * x_test + b
r2 = 1.0 - float(((pred - y_test) ** 2).mean() / y_test.var(unbiased=False))
print(f"w {w.item():.4f}, b {b.item():.4f}, held-out R^2 {r2:.4f}")
_harness.report(metric=r2, metric_name="R^2 (held-out points)", chance=0.0, losses=losses)
