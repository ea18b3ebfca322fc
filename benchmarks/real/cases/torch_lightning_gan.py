"""Lightning `examples/pytorch/domain_templates/generative_adversarial_net.py`: a fully connected GAN on MNIST
with manual optimization.

Ported (re-written to the same models, loss, optimizers and loop): the generator maps a 100-d noise vector
through Linear blocks 128 (no BatchNorm), 256, 512, 1024 (each Linear + BatchNorm1d(eps=0.8) + LeakyReLU
0.2) to 784 + Tanh; the discriminator is 784-512-256-1 with LeakyReLU 0.2 and no output activation, the loss
`F.binary_cross_entropy_with_logits`. `automatic_optimization = False`: each `training_step` first updates
the generator (fakes labelled real) inside `toggle_optimizer(opt_g)`, then the discriminator on real and
detached fakes (the mean of the two losses) inside `toggle_optimizer(opt_d)`, with `manual_backward`; two
Adam optimizers lr 2e-4, betas (0.5, 0.999); batch 32 with `drop_last` as the example's `MNISTDataModule`.

Changes: the `MNISTDataModule` download (ToTensor only, pixels in [0, 1], 5,000 images split off for
validation) becomes the local MNIST stand-in (5,500 train images after a 500-image split); 3 epochs
instead of the Trainer's default 1,000; CPU instead of `accelerator="gpu"`; no TensorBoard logger,
checkpoints or progress bar, and the epoch-end image grid (torchvision) is dropped. The measure, where
higher is better, is minus the RMS difference between the per-pixel mean of 256 generated images and that
of 256 held-out real images; its chance level is that of the untrained generator on the same noise.
"""

import math

import _data
import _harness
import lightning.pytorch as pl
import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import DataLoader, random_split


class Generator(nn.Module):
    def __init__(self, latent_dim=100, img_shape=(1, 28, 28)):
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(math.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(math.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


class GAN(pl.LightningModule):
    def __init__(self, img_shape=(1, 28, 28), lr=0.0002, b1=0.5, b2=0.999, latent_dim=100):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = Generator(latent_dim=self.hparams.latent_dim, img_shape=img_shape)
        self.discriminator = Discriminator(img_shape=img_shape)
        self.validation_z = torch.randn(8, self.hparams.latent_dim)
        self.example_input_array = torch.zeros(2, self.hparams.latent_dim)
        self.seen_losses = []

    def forward(self, z):
        return self.generator(z)

    @staticmethod
    def adversarial_loss(y_hat, y):
        return F.binary_cross_entropy_with_logits(y_hat, y)

    def training_step(self, batch):
        imgs, _ = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(imgs.shape[0], self.hparams.latent_dim).type_as(imgs)

        # train the generator: fakes should be classified as real
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        self.toggle_optimizer(opt_g)
        g_loss = self.adversarial_loss(self.discriminator(self(z)), valid)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # train the discriminator: real as real, (detached) fakes as fake
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        self.toggle_optimizer(opt_d)
        real_loss = self.adversarial_loss(self.discriminator(imgs), valid)
        fake = torch.zeros(imgs.size(0), 1).type_as(imgs)
        fake_loss = self.adversarial_loss(self.discriminator(self(z).detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.log_dict({"d_loss": d_loss, "g_loss": g_loss})
        self.seen_losses.append(d_loss.item() + g_loss.item())

    def configure_optimizers(self):
        lr, b1, b2 = self.hparams.lr, self.hparams.b1, self.hparams.b2
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        return opt_g, opt_d


def mean_image_distance(fake, real):
    return (fake.mean(0) - real.mean(0)).pow(2).mean().sqrt().item()


def main():
    _harness.seed_everything()
    dataset = _data.MNISTLike(train=True, seed=_harness.seed(), normalize=False)
    train_set, val_set = random_split(dataset, [len(dataset) - 500, 500], generator=torch.Generator().manual_seed(42))
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True, drop_last=True)

    model = GAN()
    eval_z = torch.randn(256, model.hparams.latent_dim)
    real_eval = torch.stack([val_set[i][0] for i in range(256)])
    model.eval()
    with torch.no_grad():
        chance = -mean_image_distance(model(eval_z), real_eval)
    model.train()

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=3, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=_harness.callbacks("lightning"))
    trainer.fit(model, train_loader)

    model.eval()
    with torch.no_grad():
        metric = -mean_image_distance(model(eval_z), real_eval)
    _harness.report(metric=metric, metric_name="minus mean-image distance", chance=chance, losses=model.seen_losses)


if __name__ == "__main__":
    main()
