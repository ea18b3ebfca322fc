"""defects4ML bug 006 (tensorflow/models `autoencoder/VariationalAutoencoderRunner.py`): a one-layer Gaussian
VAE on MNIST pixels that were standardised with scikit-learn's ``StandardScaler``.

The original (TensorFlow 1 graph code) encodes the 784 pixels linearly into a 200-dimensional mean and log
variance (Xavier-uniform weights, zero biases), samples z = mean + sqrt(exp(log_var)) * eps, decodes linearly
(zero-initialised weights and bias) and minimises ``mean(0.5 * sum(((x_hat - x) ** 2)) + KL)`` (the squared
error summed over the whole batch, the KL term per sample) with Adam lr 0.001, on random contiguous blocks
of 128 training images, n_samples / 128 blocks per epoch, 20 epochs. The bug: ``standard_scale`` divides
every pixel by its training standard deviation, so pixels that are almost always 0 become huge for the few
images that ink them; the encoder's log variance then explodes (exp overflows) and the cost turns NaN. The fix
(commit 55a34ae) scales with ``MinMaxScaler(feature_range=(0, 1))`` (and draws eps with the batch's own
size).

Ported to PyTorch with the same math: the MNIST download becomes the local stand-in (flattened, in [0, 1]);
the reported score is the held-out reconstruction R^2 measured on the raw pixels (each variant's
reconstruction mapped back through its own scaler).
"""

import _data
import _harness
import numpy as np
import sklearn.preprocessing as prep
import torch
from torch import nn

_harness.seed_everything()


def xavier_init(fan_in, fan_out, constant=1):
    bound = constant * np.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(fan_in, fan_out).uniform_(-bound, bound)


class VariationalAutoencoder(nn.Module):
    def __init__(self, n_input, n_hidden):
        super().__init__()
        self.w1 = nn.Parameter(xavier_init(n_input, n_hidden))
        self.log_sigma_w1 = nn.Parameter(xavier_init(n_input, n_hidden))
        self.b1 = nn.Parameter(torch.zeros(n_hidden))
        self.log_sigma_b1 = nn.Parameter(torch.zeros(n_hidden))
        self.w2 = nn.Parameter(torch.zeros(n_hidden, n_input))
        self.b2 = nn.Parameter(torch.zeros(n_input))

    def forward(self, x):
        z_mean = x @ self.w1 + self.b1
        z_log_sigma_sq = x @ self.log_sigma_w1 + self.log_sigma_b1
        eps = torch.randn(x.shape[0], z_mean.shape[1])
        z = z_mean + torch.sqrt(torch.exp(z_log_sigma_sq)) * eps
        reconstruction = z @ self.w2 + self.b2
        reconstr_loss = 0.5 * torch.sum((reconstruction - x) ** 2)
        latent_loss = -0.5 * torch.sum(1 + z_log_sigma_sq - z_mean ** 2 - torch.exp(z_log_sigma_sq), 1)
        cost = torch.mean(reconstr_loss + latent_loss)
        return cost, reconstruction


def standard_scale(X_train, X_test):
    preprocessor = prep.StandardScaler().fit(X_train)
    return preprocessor, preprocessor.transform(X_train), preprocessor.transform(X_test)


def minmax_scale(X_train, X_test):
    preprocessor = prep.MinMaxScaler(feature_range=(0, 1)).fit(X_train)
    return preprocessor, preprocessor.transform(X_train), preprocessor.transform(X_test)


def get_random_block_from_data(data, batch_size):
    start_index = np.random.randint(0, len(data) - batch_size)
    return data[start_index:(start_index + batch_size)]


(x_train, _), (x_test, _) = _data.mnist_load_data(seed=_harness.seed())
x_train[x_train < 38], x_test[x_test < 38] = 0, 0  # MNIST's background is exactly 0: no stand-in pixel noise
train_images = x_train.reshape(len(x_train), -1).astype(np.float32) / 255.0
test_images = x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0

scale = standard_scale if _harness.buggy() else minmax_scale  # the bug
preprocessor, X_train, X_test = scale(train_images, test_images)
X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)

n_samples = len(X_train)
training_epochs = 20
batch_size = 128

autoencoder = VariationalAutoencoder(n_input=784, n_hidden=200)
optimizer = torch.optim.Adam(autoencoder.parameters(), lr=0.001, eps=1e-8)

losses = []
for epoch in range(training_epochs):
    avg_cost = 0.0
    total_batch = int(n_samples / batch_size)
    for i in range(total_batch):
        batch_xs = torch.from_numpy(get_random_block_from_data(X_train, batch_size))
        optimizer.zero_grad()
        cost, _ = autoencoder(batch_xs)
        cost.backward()
        optimizer.step()
        losses.append(cost.item())
        avg_cost += cost.item() / n_samples * batch_size
    print("Epoch:", "%04d" % (epoch + 1), "cost=", "{:.9f}".format(avg_cost))

with torch.no_grad():
    total_cost, reconstruction = autoencoder(torch.from_numpy(X_test))
print("Total cost: " + str(total_cost.item()))

# held-out R^2 of the reconstruction on the raw pixels (0..1), whatever scaling the variant trained on
recon_pixels = preprocessor.inverse_transform(reconstruction.numpy().astype(np.float64))
sse = float(np.sum((recon_pixels - test_images) ** 2))
sst = float(np.sum((test_images - train_images.mean(0)) ** 2))
r2 = 1.0 - sse / sst if np.isfinite(sse) else float("nan")
_harness.report(metric=r2, metric_name="held-out reconstruction R^2 (raw pixels)", chance=0.0, losses=losses)
