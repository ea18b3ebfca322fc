"""blackecho/Deep-Learning-TensorFlow `command_line/run_dbn.py` (a Deep Belief Network: stacked RBMs
pre-trained with contrastive divergence, then fine-tuned as a ReLU MLP with a linear "softmax layer"), as kept
in Zhang et al.'s TensorFlow-Program-Bugs (ISSTA 2018, subject Github/IPS-7, run with
``--finetune_loss_func=cross_entropy --rbm_layers=512,256``).

Buggy: the fine-tuning cost of `model.py` takes the output of the last layer, which is linear, as if it were
a probability: ``-mean(y * log(clip(out, 1e-10, inf)) + (1 - y) * log(clip(1 - out, 1e-10, inf)))``. Where an
output leaves (0, 1) the clipped log is constant and its gradient is zero, so the network cannot be pushed
towards the right class. Fixed, as in the repository's fix: ``model_output = softmax(model_output)`` before
that cost.

Ported from raw TensorFlow 1 ops to PyTorch with the same math: binary RBMs (784-512, then 512-256; W from a
truncated normal of std 0.1, zero biases; CD-1 with sampled hidden states in the positive phase; updates
``lr * (pos - neg) / batch_size`` and mean bias differences; lr 0.01, batch 10, 10 epochs each; the next RBM
trains on the hidden probabilities), then fine-tuning of the ReLU layers initialised from the RBM weights and
hidden biases plus a linear output layer (truncated normal std 0.1, bias 0.1) with plain gradient descent
(lr 0.01, batch 10, 10 epochs, reshuffled each epoch). The MNIST download becomes the local stand-in (2,000
train / 500 validation / 1,000 test images, flattened, in [0, 1]); TensorBoard summaries, model directories
and checkpoints go.
"""

import _data
import _harness
import numpy as np
import torch
from torch import nn

_harness.seed_everything()

rbm_layers = [512, 256]
rbm_learning_rate, rbm_num_epochs, rbm_batch_size, rbm_gibbs_k = 0.01, 10, 10, 1
finetune_learning_rate, finetune_num_epochs, finetune_batch_size = 0.01, 10, 10


def load_mnist_dataset():
    (x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed(), n_train=2000,
                                                                 n_test=1500)

    def prep(x, y):
        x = torch.from_numpy(x.reshape(-1, 784).astype(np.float32) / 255.0)
        return x, nn.functional.one_hot(torch.from_numpy(y.astype(np.int64)), 10).float()

    return (*prep(x_train, y_train), *prep(x_test[:500], y_test[:500]), *prep(x_test[500:], y_test[500:]))


def truncated_normal(*shape, stddev):
    return nn.init.trunc_normal_(torch.empty(*shape), std=stddev, a=-2 * stddev, b=2 * stddev)


class RBM:
    """A binary-binary RBM trained with k-step contrastive divergence (no autograd: explicit updates)."""

    def __init__(self, n_features, num_hidden, learning_rate, num_epochs, batch_size, gibbs_k):
        self.W = truncated_normal(n_features, num_hidden, stddev=0.1)
        self.bh_ = torch.zeros(num_hidden)
        self.bv_ = torch.zeros(n_features)
        self.learning_rate, self.num_epochs, self.batch_size, self.gibbs_k = (
            learning_rate, num_epochs, batch_size, gibbs_k)

    def sample_hidden_from_visible(self, visible):
        hprobs = torch.sigmoid(visible @ self.W + self.bh_)
        hstates = torch.relu(torch.sign(hprobs - torch.rand_like(hprobs)))  # utilities.sample_prob
        return hprobs, hstates

    def sample_visible_from_hidden(self, hidden):
        return torch.sigmoid(hidden @ self.W.T + self.bv_)

    def gibbs_sampling_step(self, visible):
        hprobs, hstates = self.sample_hidden_from_visible(visible)
        vprobs = self.sample_visible_from_hidden(hprobs)
        hprobs1, hstates1 = self.sample_hidden_from_visible(vprobs)
        return hprobs, hstates, vprobs, hprobs1, hstates1

    def update(self, batch):
        hprobs0, hstates0, vprobs, hprobs1, _ = self.gibbs_sampling_step(batch)
        positive = batch.T @ hstates0
        for _ in range(self.gibbs_k - 1):
            _, _, vprobs, hprobs1, _ = self.gibbs_sampling_step(vprobs)
        negative = vprobs.T @ hprobs1
        self.W += self.learning_rate * (positive - negative) / self.batch_size
        self.bh_ += self.learning_rate * torch.mean(hprobs0 - hprobs1, 0)
        self.bv_ += self.learning_rate * torch.mean(batch - vprobs, 0)

    def loss_function(self, data):
        vprobs = self.gibbs_sampling_step(data)[2]
        return torch.sqrt(torch.mean((data - vprobs) ** 2)).item()

    def fit(self, train_set, validation_set):
        for epoch in range(self.num_epochs):
            train_set = train_set[torch.randperm(len(train_set))]
            for start in range(0, len(train_set), self.batch_size):
                self.update(train_set[start:start + self.batch_size])
            print(f"Validation cost at step {epoch}: {self.loss_function(validation_set)}")

    def transform(self, data):
        return self.sample_hidden_from_visible(data)[0]


class DBN(nn.Module):
    def __init__(self, rbms, n_classes):
        super().__init__()
        self.layers = nn.ModuleList()
        for rbm in rbms:  # _create_variables_pretrain: W and the hidden biases of each RBM
            layer = nn.Linear(*rbm.W.shape)
            layer.weight.data.copy_(rbm.W.T)
            layer.bias.data.copy_(rbm.bh_)
            self.layers.append(layer)
        self.softmax_layer = nn.Linear(rbms[-1].W.shape[1], n_classes)  # linear despite its name
        self.softmax_layer.weight.data.copy_(truncated_normal(n_classes, rbms[-1].W.shape[1], stddev=0.1))
        nn.init.constant_(self.softmax_layer.bias, 0.1)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))  # finetune_act_func='relu'; dropout keep_prob 1
        return self.softmax_layer(x)


def cross_entropy(model_output, ref_input):
    if not _harness.buggy():  # the bug: this softmax is missing, the cost treats raw outputs as probabilities
        model_output = torch.softmax(model_output, dim=1)
    return -torch.mean(ref_input * torch.log(torch.clamp(model_output, min=1e-10))
                       + (1 - ref_input) * torch.log(torch.clamp(1 - model_output, min=1e-10)))


trX, trY, vlX, vlY, teX, teY = load_mnist_dataset()

# unsupervised pre-training, layer by layer
rbms, next_train, next_valid = [], trX, vlX
for num_hidden in rbm_layers:
    print(f"Training layer {len(rbms) + 1}...")
    rbm = RBM(next_train.shape[1], num_hidden, rbm_learning_rate, rbm_num_epochs, rbm_batch_size, rbm_gibbs_k)
    rbm.fit(next_train, next_valid)
    rbms.append(rbm)
    next_train, next_valid = rbm.transform(next_train), rbm.transform(next_valid)

# supervised fine-tuning
print("Start deep belief net finetuning...")
model = DBN(rbms, trY.shape[1])
optimizer = torch.optim.SGD(model.parameters(), lr=finetune_learning_rate)
losses = []
for epoch in range(finetune_num_epochs):
    order = torch.randperm(len(trX))
    for start in range(0, len(trX), finetune_batch_size):
        idx = order[start:start + finetune_batch_size]
        cost = cross_entropy(model(trX[idx]), trY[idx])
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()
        losses.append(cost.item())
    with torch.no_grad():
        print(f"Cost at step {epoch}: {cross_entropy(model(vlX), vlY).item()}")

with torch.no_grad():
    accuracy = (model(teX).argmax(1) == teY.argmax(1)).float().mean().item()
print(f"Test set accuracy: {accuracy}")
_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
