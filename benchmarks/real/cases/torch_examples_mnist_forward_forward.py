"""pytorch/examples `mnist_forward_forward/main.py`: Hinton's forward-forward algorithm on MNIST.

Ported (re-written to the same model, losses, optimizers and loop): two fully connected layers (784-500-500),
each a ``Layer(nn.Linear)`` that normalizes its input to unit length, applies ReLU and trains itself with its
own Adam (lr 0.03) on its own local loss ``log1p(exp(cat(threshold - g_pos, g_neg - threshold))).mean()``
where ``g`` is the mean squared activation ("goodness"), full batch, layer after layer, the next layer
training on the detached outputs of the previous one (no end-to-end backpropagation). Positive data carry the
true label one-hot in the first 10 pixels (set to the batch maximum), negative data a random wrong label;
prediction overlays each of the 10 labels and takes the one with the highest summed goodness.

The torchvision download is replaced by a local MNIST stand-in of the same shape and normalization;
--train_size 300 (instead of 50,000) and --epochs 400 per layer (instead of 1,000).
"""

import argparse

import _data
import _harness
import torch
from torch import nn
from torch.optim import Adam
from torch.utils.data import DataLoader

device = torch.device("cpu")
args = None
losses = []  # every layer's local loss, in the order they were trained


def get_y_neg(y):
    """A random label other than the true one, for every example."""
    y_neg = y.clone()
    for idx, y_samp in enumerate(y):
        allowed = [c for c in range(10) if c != y_samp.item()]
        y_neg[idx] = torch.tensor(allowed)[torch.randint(len(allowed), size=(1,))].item()
    return y_neg.to(device)


def overlay_y_on_x(x, y, classes=10):
    """Blank the first ``classes`` pixels and write the label there as a one-hot of the batch maximum."""
    x_ = x.clone()
    x_[:, :classes] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


class Net(torch.nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = []  # a plain list, as in the original (the layers are not registered submodules)
        for d in range(len(dims) - 1):
            self.layers = self.layers + [Layer(dims[d], dims[d + 1]).to(device)]

    def predict(self, x):
        goodness_per_label = []
        for label in range(10):
            h = overlay_y_on_x(x, label)
            goodness = []
            for layer in self.layers:
                h = layer(h)
                goodness = goodness + [h.pow(2).mean(1)]
            goodness_per_label += [sum(goodness).unsqueeze(1)]
        return torch.cat(goodness_per_label, 1).argmax(1)

    def train(self, x_pos, x_neg):  # overrides nn.Module.train, as the original does
        h_pos, h_neg = x_pos, x_neg
        for i, layer in enumerate(self.layers):
            print("training layer: ", i)
            h_pos, h_neg = layer.train(h_pos, h_neg)


class Layer(nn.Linear):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.relu = torch.nn.ReLU()
        self.opt = Adam(self.parameters(), lr=args.lr)
        self.threshold = args.threshold
        self.num_epochs = args.epochs

    def forward(self, x):
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

    def train(self, x_pos, x_neg):  # overrides nn.Module.train, as the original does
        for i in range(self.num_epochs):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            loss = torch.log1p(torch.exp(torch.cat([-g_pos + self.threshold, g_neg - self.threshold]))).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            losses.append(loss.item())
            if i % args.log_interval == 0:
                print("Loss: ", loss.item())
        return self.forward(x_pos).detach(), self.forward(x_neg).detach()


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--train_size", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=2)
    parser.add_argument("--test_size", type=int, default=1000)
    parser.add_argument("--log-interval", type=int, default=10)
    args = parser.parse_args()
    _harness.seed_everything()

    train_loader = DataLoader(_data.MNISTLike(train=True, n_train=args.train_size, n_test=args.test_size),
                              batch_size=args.train_size)
    test_loader = DataLoader(_data.MNISTLike(train=False, n_train=args.train_size, n_test=args.test_size),
                             batch_size=args.test_size)
    net = Net([784, 500, 500])
    x, y = next(iter(train_loader))
    x, y = torch.flatten(x, 1).to(device), y.to(device)  # the original flattens each image in its transform
    x_pos = overlay_y_on_x(x, y)
    y_neg = get_y_neg(y)
    x_neg = overlay_y_on_x(x, y_neg)
    net.train(x_pos, x_neg)
    print("train error:", 1.0 - net.predict(x).eq(y).float().mean().item())
    x_te, y_te = next(iter(test_loader))
    x_te, y_te = torch.flatten(x_te, 1).to(device), y_te.to(device)
    accuracy = net.predict(x_te).eq(y_te).float().mean().item()
    print("test error:", 1.0 - accuracy)
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)


if __name__ == "__main__":
    main()
