"""pytorch/examples `vae/main.py`: a fully connected variational auto-encoder on MNIST.

Ported (re-written to the same model, loss, optimizer and loop): encoder 784-400 (ReLU) -> two 20-unit heads
(mu, logvar), reparameterization, decoder 20-400 (ReLU) -784 with `torch.sigmoid`; loss = binary
cross-entropy summed over pixels and batch + the KL divergence; Adam lr 1e-3, batch 128. The torchvision
download (`ToTensor` only, pixels in [0, 1]) becomes the local MNIST stand-in without normalization
(6,000 train / 1,000 test images); 10 epochs (the default); no image saving or accelerator. The held-out
measure is minus the example's own test loss per image; its chance level is that loss for a model that
ignores its input and always reconstructs the per-pixel mean of the training images (KL term 0).
"""

import argparse

import _data
import _harness
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F  # noqa: N812


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    """Reconstruction + KL divergence losses summed over all elements and batch."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    parser = argparse.ArgumentParser(description="VAE MNIST Example")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--log-interval", type=int, default=10)
    args = parser.parse_args()
    _harness.seed_everything()

    train_set = _data.MNISTLike(train=True, normalize=False)
    test_set = _data.MNISTLike(train=False, normalize=False)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=args.batch_size, shuffle=False)

    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    losses = []

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            losses.append(loss.item())
            if batch_idx % args.log_interval == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]\t"
                      f"Loss: {loss.item() / len(data):.6f}")
        print(f"====> Epoch: {epoch} Average loss: {train_loss / len(train_loader.dataset):.4f}")

    def test():
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for data, _ in test_loader:
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        test_loss /= len(test_loader.dataset)
        print(f"====> Test set loss: {test_loss:.4f}")
        return test_loss

    test_loss = float("nan")
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        test_loss = test()

    # chance: reconstruct every test image as the mean training image, with a zero KL term
    mean_image = torch.stack([x for x, _ in train_set]).mean(0).view(1, 784).clamp(1e-6, 1 - 1e-6)
    test_images = torch.stack([x for x, _ in test_set]).view(-1, 784)
    chance_loss = F.binary_cross_entropy(mean_image.expand_as(test_images), test_images,
                                         reduction="sum").item() / len(test_set)
    _harness.report(metric=-test_loss, metric_name="minus test loss per image", chance=-chance_loss,
                    losses=losses)


if __name__ == "__main__":
    main()
