"""PyTorch recipe "Automatic Mixed Precision" (pytorch/tutorials, recipes_source/recipes/amp_recipe.py): a
stack of Linear + ReLU layers trained with MSE and SGD(lr=0.001) under `torch.autocast` with a `GradScaler`.

Ported (re-written to the same model, loss, optimizer and loop): `make_model(in_size, out_size, num_layers)`
is `num_layers - 1` times Linear(in_size, in_size) + ReLU, then Linear(in_size, out_size); the data are a fixed
list of `num_batches` batches of `torch.randn(batch_size, in_size)` inputs reused every epoch; the "All
together" loop runs the forward pass and `MSELoss` under `torch.autocast(..., enabled=use_amp)`, then
`scaler.scale(loss).backward()`, `scaler.step(opt)`, `scaler.update()`, `opt.zero_grad()`; the scaler,
model and optimizer states are saved to a checkpoint dict and loaded back; evaluation runs under autocast alone.

Changes: CPU instead of CUDA, so autocast is `torch.autocast(device_type="cpu", dtype=torch.bfloat16)` and the
scaler is `torch.amp.GradScaler("cpu")` (enabled: CPU gradient scaling is supported by this torch); the
recipe's targets are `torch.randn` noise (it only times the loop), here they are the outputs of a fixed
random linear teacher network (`torch.nn.Linear(in_size, out_size)`, drawn from the seed), standardized, so
that there is something to learn, and a held-out set of 2,000 fresh inputs gives the R^2; sizes: batch_size
64, in_size 64, out_size 1, num_layers 3 (as the recipe), num_batches 50, 60 epochs instead of 512 / 4096 /
4096 / 3 / 50 / 3 (SGD at lr 0.001 through default-initialized layers needs thousands of steps, and
bfloat16 matmuls are slow on a CPU); the default-precision timing run before it, the timers, the 0-epoch illustration loops and
the gradient-clipping example are dropped.
"""

import _harness
import torch


def make_model(in_size, out_size, num_layers):
    layers = []
    for _ in range(num_layers - 1):
        layers.append(torch.nn.Linear(in_size, in_size))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(in_size, out_size))
    return torch.nn.Sequential(*tuple(layers))


def main():
    _harness.seed_everything()
    batch_size = 64
    in_size = 64
    out_size = 1
    num_layers = 3
    num_batches = 50
    epochs = 60

    device = "cpu"
    torch.set_default_device(device)

    # the stand-in target: a fixed random linear teacher network, its outputs standardized
    teacher = torch.nn.Linear(in_size, out_size).requires_grad_(False)
    data = [torch.randn(batch_size, in_size) for _ in range(num_batches)]
    with torch.no_grad():
        raw = torch.cat([teacher(x) for x in data])
        mean, std = raw.mean(0), raw.std(0)
        targets = [(teacher(x) - mean) / std for x in data]
        test_x = torch.randn(2000, in_size)
        test_y = (teacher(test_x) - mean) / std

    loss_fn = torch.nn.MSELoss()

    use_amp = True

    net = make_model(in_size, out_size, num_layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.001)
    scaler = torch.amp.GradScaler(device, enabled=use_amp)

    losses = []
    for epoch in range(epochs):
        for input, target in zip(data, targets):
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_amp):
                output = net(input)
                loss = loss_fn(output, target)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
            losses.append(loss.item())
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch}: loss {loss.item():.4f}, scale {scaler.get_scale():.0f}")

    checkpoint = {"model": net.state_dict(),
                  "optimizer": opt.state_dict(),
                  "scaler": scaler.state_dict()}
    net.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    scaler.load_state_dict(checkpoint["scaler"])

    # inference under autocast alone (no GradScaler)
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_amp):
        pred = net(test_x).float()
    r2 = 1.0 - ((pred - test_y) ** 2).sum().item() / ((test_y - test_y.mean(0)) ** 2).sum().item()
    print(f"held-out R^2: {r2:.4f}")
    _harness.report(metric=r2, metric_name="R^2", chance=0.0, losses=losses)


if __name__ == "__main__":
    main()
