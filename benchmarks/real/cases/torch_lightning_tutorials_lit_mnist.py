"""Lightning-AI/tutorials `lightning_examples/mnist-hello-world/hello-world.py`, second part ("A more complete
MNIST Lightning Module Example"): `LitMNIST`, a LightningModule that owns its data hooks (prepare_data,
setup with a 55,000 / 5,000 random_split, train / val / test dataloaders, ToTensor + Normalize((0.1307,),
(0.3081,))) and an MLP Flatten -> Linear(784, 64) -> ReLU -> Dropout(0.1) -> Linear(64, 64) -> ReLU ->
Dropout(0.1) -> Linear(64, 10) with `F.log_softmax` in `forward` and `F.nll_loss`; Adam lr 2e-4; torchmetrics
multiclass Accuracy logged in validation_step and test_step; `Trainer(max_epochs=3)`, `fit`, then `test`.

Ported (re-written to the same module, loss, optimizer, batch size and Trainer calls): the torchvision MNIST
download becomes the local stand-in (`_data.MNISTLike`: 6,000 training images split 5,500 / 500 in the
tutorial's proportions, 1,000 test images, same normalization); CPU, batch 64 (the tutorial's CPU default);
no CSV logger, checkpoint or metrics plot, so `trainer.test` evaluates the fitted model instead of
`ckpt_path="best"` (the last and only checkpoint of the run).
"""

import _data
import _harness
import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, random_split
from torchmetrics import Accuracy

BATCH_SIZE = 64
MAX_EPOCHS = 3


class LitMNIST(pl.LightningModule):
    def __init__(self, hidden_size=64, learning_rate=2e-4):
        super().__init__()
        self.hidden_size = hidden_size
        self.learning_rate = learning_rate
        self.num_classes = 10
        self.dims = (1, 28, 28)
        channels, width, height = self.dims
        self.model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * width * height, hidden_size),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(hidden_size, self.num_classes),
        )
        self.val_accuracy = Accuracy(task="multiclass", num_classes=10)
        self.test_accuracy = Accuracy(task="multiclass", num_classes=10)
        self.seen_losses = []

    def forward(self, x):
        x = self.model(x)
        return F.log_softmax(x, dim=1)

    def training_step(self, batch, batch_nb):
        x, y = batch
        loss = F.nll_loss(self(x), y)
        self.seen_losses.append(loss.item())
        return loss

    def validation_step(self, batch, batch_nb):
        x, y = batch
        logits = self(x)
        loss = F.nll_loss(logits, y)
        preds = torch.argmax(logits, dim=1)
        self.val_accuracy.update(preds, y)
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_acc", self.val_accuracy, prog_bar=True)

    def test_step(self, batch, batch_nb):
        x, y = batch
        logits = self(x)
        loss = F.nll_loss(logits, y)
        preds = torch.argmax(logits, dim=1)
        self.test_accuracy.update(preds, y)
        self.log("test_loss", loss, prog_bar=True)
        self.log("test_acc", self.test_accuracy, prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)

    # data hooks: the stand-in needs no download, so prepare_data has nothing to do
    def prepare_data(self):
        pass

    def setup(self, stage=None):
        if stage == "fit" or stage is None:
            mnist_full = _data.MNISTLike(train=True, seed=_harness.seed())
            self.mnist_train, self.mnist_val = random_split(mnist_full, [5500, 500])
        if stage == "test" or stage is None:
            self.mnist_test = _data.MNISTLike(train=False, seed=_harness.seed())

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=BATCH_SIZE)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=BATCH_SIZE)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=BATCH_SIZE)


def main():
    _harness.seed_everything()
    model = LitMNIST()
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=MAX_EPOCHS, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=_harness.callbacks("lightning"))
    trainer.fit(model)
    results = trainer.test(model, verbose=False)
    accuracy = float(results[0]["test_acc"])
    print(f"test accuracy {accuracy:.4f}")
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=model.seen_losses)


if __name__ == "__main__":
    main()
