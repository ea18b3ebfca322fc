"""Lightning-AI/pytorch-lightning issue #4862 ("Training loss not convergence"): the README-style MNIST model,
a single Linear(784, 10) whose `forward` returns `torch.relu(...)` of the class scores, trained with
`F.cross_entropy` and Adam at lr 0.02; "even at epoch 29, the loss is around 1.5". Negative class scores are
clipped to zero, so a class whose score turns negative for its own digits stops receiving gradient.
The fix returns the Linear output unchanged.

Ported (re-written to the same model, loss, optimizer and loop): the `LightningModule` of the issue
(training_step returning `{"loss": loss}`, configure_optimizers returning Adam(lr=0.02)), a DataLoader with
batch 32 and no shuffling over MNIST with `ToTensor()` only, `Trainer.fit`. The torchvision download becomes
the local MNIST stand-in (6,000 images), 3 epochs instead of the open-ended run, CPU instead of `gpus=1`,
the progress bar and logger are off, and the step's loss is logged with `self.log` instead of the old
`'log'` dict entry. The held-out accuracy on 1,000 stand-in test images is computed after `fit`.
"""

import _data
import _harness
import lightning.pytorch as pl
import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, TensorDataset


class MNISTModel(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(28 * 28, 10)
        self.losses = []

    def forward(self, x):
        scores = self.l1(x.view(x.size(0), -1))
        if _harness.buggy():  # the bug: ReLU on the logits given to cross_entropy
            return torch.relu(scores)
        return scores

    def training_step(self, batch, batch_nb):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        self.losses.append(loss.item())
        return {"loss": loss}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)


def to_tensor_dataset(x, y):
    """transforms.ToTensor on uint8 images: (N, 1, 28, 28) floats in [0, 1]."""
    return TensorDataset(torch.from_numpy(x).float().div(255.0).unsqueeze(1),
                         torch.from_numpy(y.astype(np.int64)))


def main():
    _harness.seed_everything()
    (x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
    train_loader = DataLoader(to_tensor_dataset(x_train, y_train), batch_size=32)
    mnist_model = MNISTModel()
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=3, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=_harness.callbacks("lightning"))
    trainer.fit(mnist_model, train_loader)

    test = to_tensor_dataset(x_test, y_test)
    mnist_model.eval()
    with torch.no_grad():
        x, y = test.tensors
        accuracy = (mnist_model(x).argmax(1) == y).float().mean().item()
    print(f"test accuracy {accuracy:.4f}")
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=mnist_model.losses)


if __name__ == "__main__":
    main()
