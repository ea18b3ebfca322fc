"""Lightning-AI/tutorials `course_UvA-DL/08-deep-autoencoders/Deep_Autoencoders.py` (UvA deep learning course,
tutorial 9, Phillip Lippe): a convolutional autoencoder on CIFAR-10 as a LightningModule.

Ported (re-written to the same modules, loss, optimizer, scheduler, data split, batch size and Trainer calls):
images are scaled to [-1, 1] (ToTensor + Normalize(0.5, 0.5)); the Encoder is Conv2d(3, 32, 3, stride 2) / GELU /
Conv2d(32, 32) / GELU / Conv2d(32, 64, stride 2) / GELU / Conv2d(64, 64) / GELU / Conv2d(64, 64, stride 2) /
GELU / Flatten / Linear(1024, latent_dim); the Decoder is Linear(latent_dim, 1024) / GELU, a reshape to 4x4,
then ConvTranspose2d / Conv2d pairs with GELU back to 32x32 and a final Tanh. The loss is
`F.mse_loss(x, x_hat, reduction="none")` summed over each image and averaged over the batch; Adam(lr=1e-3)
with ReduceLROnPlateau(mode="min", factor=0.2, patience=20, min_lr=5e-5) monitoring "val_loss"; the training
set is split by `random_split` after `L.seed_everything(42)`, loaders of batch 256 (train shuffled with
drop_last); `trainer.fit(model, train_loader, val_loader)`, then `trainer.test` on the validation and the
test loader.

Changes: the torchvision CIFAR10 download becomes the local stand-in of the same shape and range (5,000
train images split 4,500 / 500 in the tutorial's 45,000 / 5,000 proportions, 1,000 test images); only
latent_dim 128 of the tutorial's loop over [64, 128, 256, 384] is trained (128 is the model the tutorial uses
afterwards); max_epochs 4 instead of 500; no pretrained-checkpoint download or loading, ModelCheckpoint,
LearningRateMonitor, reconstruction-image callback, TensorBoard logger or plots; no DataLoader workers;
training_step also records each loss for the report. The measure, where higher is better, is minus the
test reconstruction loss from `trainer.test`; its chance level is minus that of always predicting the mean
training image (a model that ignores its input).
"""

import _data
import _harness
import lightning as L  # noqa: N812
import torch
import torch.nn.functional as F  # noqa: N812
import torch.utils.data as data
from torch import nn, optim

_harness.seed_everything()


def to_dataset(images, labels):
    """ToTensor() then Normalize((0.5,), (0.5,)): (N, 3, 32, 32) float32 in [-1, 1]."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return data.TensorDataset((x - 0.5) / 0.5, torch.from_numpy(labels[:, 0].astype("int64")))


(x_train, y_train), (x_test, y_test) = _data.cifar10_load_data(seed=_harness.seed())
train_dataset = to_dataset(x_train, y_train)
L.seed_everything(42)
train_set, val_set = torch.utils.data.random_split(train_dataset, [4500, 500])
test_set = to_dataset(x_test, y_test)
_harness.seed_everything()

train_loader = data.DataLoader(train_set, batch_size=256, shuffle=True, drop_last=True)
val_loader = data.DataLoader(val_set, batch_size=256, shuffle=False, drop_last=False)
test_loader = data.DataLoader(test_set, batch_size=256, shuffle=False, drop_last=False)


class Encoder(nn.Module):
    def __init__(self, num_input_channels: int, base_channel_size: int, latent_dim: int, act_fn: object = nn.GELU):
        super().__init__()
        c_hid = base_channel_size
        self.net = nn.Sequential(
            nn.Conv2d(num_input_channels, c_hid, kernel_size=3, padding=1, stride=2),  # 32x32 => 16x16
            act_fn(),
            nn.Conv2d(c_hid, c_hid, kernel_size=3, padding=1),
            act_fn(),
            nn.Conv2d(c_hid, 2 * c_hid, kernel_size=3, padding=1, stride=2),  # 16x16 => 8x8
            act_fn(),
            nn.Conv2d(2 * c_hid, 2 * c_hid, kernel_size=3, padding=1),
            act_fn(),
            nn.Conv2d(2 * c_hid, 2 * c_hid, kernel_size=3, padding=1, stride=2),  # 8x8 => 4x4
            act_fn(),
            nn.Flatten(),
            nn.Linear(2 * 16 * c_hid, latent_dim),
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, num_input_channels: int, base_channel_size: int, latent_dim: int, act_fn: object = nn.GELU):
        super().__init__()
        c_hid = base_channel_size
        self.linear = nn.Sequential(nn.Linear(latent_dim, 2 * 16 * c_hid), act_fn())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * c_hid, 2 * c_hid, kernel_size=3, output_padding=1, padding=1, stride=2),  # 4 => 8
            act_fn(),
            nn.Conv2d(2 * c_hid, 2 * c_hid, kernel_size=3, padding=1),
            act_fn(),
            nn.ConvTranspose2d(2 * c_hid, c_hid, kernel_size=3, output_padding=1, padding=1, stride=2),  # 8 => 16
            act_fn(),
            nn.Conv2d(c_hid, c_hid, kernel_size=3, padding=1),
            act_fn(),
            nn.ConvTranspose2d(c_hid, num_input_channels, kernel_size=3, output_padding=1, padding=1,
                               stride=2),  # 16 => 32
            nn.Tanh(),  # the images lie in [-1, 1]
        )

    def forward(self, x):
        x = self.linear(x)
        x = x.reshape(x.shape[0], -1, 4, 4)
        return self.net(x)


class Autoencoder(L.LightningModule):
    def __init__(self, base_channel_size: int, latent_dim: int, encoder_class: object = Encoder,
                 decoder_class: object = Decoder, num_input_channels: int = 3, width: int = 32, height: int = 32):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = encoder_class(num_input_channels, base_channel_size, latent_dim)
        self.decoder = decoder_class(num_input_channels, base_channel_size, latent_dim)
        self.example_input_array = torch.zeros(2, num_input_channels, width, height)
        self.seen_losses = []

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z)

    def _get_reconstruction_loss(self, batch):
        """The squared error summed over each image, averaged over the batch."""
        x, _ = batch
        x_hat = self.forward(x)
        loss = F.mse_loss(x, x_hat, reduction="none")
        return loss.sum(dim=[1, 2, 3]).mean(dim=[0])

    def configure_optimizers(self):
        optimizer = optim.Adam(self.parameters(), lr=1e-3)
        scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, patience=20, min_lr=5e-5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler, "monitor": "val_loss"}

    def training_step(self, batch, batch_idx):
        loss = self._get_reconstruction_loss(batch)
        self.log("train_loss", loss)
        self.seen_losses.append(loss.item())
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._get_reconstruction_loss(batch)
        self.log("val_loss", loss)

    def test_step(self, batch, batch_idx):
        loss = self._get_reconstruction_loss(batch)
        self.log("test_loss", loss)


def train_cifar(latent_dim):
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=4, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=_harness.callbacks("lightning"))
    model = Autoencoder(base_channel_size=32, latent_dim=latent_dim)
    trainer.fit(model, train_loader, val_loader)
    val_result = trainer.test(model, dataloaders=val_loader, verbose=False)
    test_result = trainer.test(model, dataloaders=test_loader, verbose=False)
    return model, {"test": test_result, "val": val_result}


model, result = train_cifar(128)
test_loss = float(result["test"][0]["test_loss"])
print(f"val loss {result['val'][0]['test_loss']:.2f}, test loss {test_loss:.2f}")

# chance: always the mean training image
mean_image = torch.stack([train_set[i][0] for i in range(len(train_set))]).mean(dim=0, keepdim=True)
x_all = torch.stack([test_set[i][0] for i in range(len(test_set))])
baseline = float(((x_all - mean_image) ** 2).sum(dim=[1, 2, 3]).mean())
print(f"mean-image loss {baseline:.2f}")
_harness.report(metric=-test_loss, metric_name="minus test reconstruction loss", chance=-baseline,
                losses=model.seen_losses)
