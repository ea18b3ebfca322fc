"""pytorch/examples `dcgan/main.py` run as `--dataset mnist`: a DCGAN at 64x64.

Ported (re-written to the same models, loss, optimizers and loop): the generator is five transposed
convolutions (nz -> ngf*8 -> ngf*4 -> ngf*2 -> ngf -> nc, kernel 4) with BatchNorm + ReLU and a final Tanh;
the discriminator five convolutions with LeakyReLU(0.2), BatchNorm on the middle three and a final Sigmoid;
both get the example's `weights_init` (conv N(0, 0.02), BatchNorm weight N(1, 0.02), bias 0). Loss
`nn.BCELoss` on the sigmoid output; two Adam optimizers lr 2e-4, betas (0.5, 0.999), batch 64; per batch:
D on real (label 1) and on detached fakes (label 0), then G with real labels. The torchvision MNIST download
(Resize(64), ToTensor, Normalize(0.5, 0.5)) becomes the local MNIST stand-in, upsampled bilinearly to 64x64
and scaled to [-1, 1] (2,560 images, 40 batches); `--ngf 32 --ndf 32` instead of 64 so it runs on one CPU
thread; 1 epoch instead of 25; no image or checkpoint saving. The measure, where higher is better, is minus
the distance between generated and real image statistics (the RMS difference between the per-pixel mean of
256 generated images and that of 256 real ones); its chance level is that of the untrained generator on the
same noise.
"""

import argparse

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
import torch.optim as optim
import torch.utils.data
from torch import nn


def weights_init(m):
    """Custom weights initialization called on netG and netD."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, nz, ngf, nc):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),  # -> (ngf*8) x 4 x 4
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # -> 8 x 8
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # -> 16 x 16
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # -> 32 x 32
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # -> nc x 64 x 64
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ndf, nc):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 64 -> 32
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # -> 16
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),  # -> 8
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),  # -> 4
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def mnist64(n):
    """MNIST stand-in as the example's transform gives it: (1, 64, 64) floats in [-1, 1]."""
    (x, _), _ = _data.mnist_load_data(seed=_harness.seed(), n_train=n, n_test=10)
    images = torch.from_numpy(x).float().div(255.0).unsqueeze(1)
    images = F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False)
    return torch.utils.data.TensorDataset((images - 0.5) / 0.5, torch.zeros(n, dtype=torch.long))


def statistics_distance(fake, real):
    """RMS difference between the mean generated image and the mean real image (per-pixel means)."""
    return (fake.mean(0) - real.mean(0)).pow(2).mean().sqrt().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batchSize", type=int, default=64)
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--niter", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--n-images", type=int, default=2560)
    opt = parser.parse_args()
    _harness.seed_everything()

    dataset = mnist64(opt.n_images)
    nc = 1
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=opt.batchSize, shuffle=True)
    nz, ngf, ndf = opt.nz, opt.ngf, opt.ndf

    netG = Generator(nz, ngf, nc)
    netG.apply(weights_init)
    netD = Discriminator(ndf, nc)
    netD.apply(weights_init)
    criterion = nn.BCELoss()

    eval_noise = torch.randn(256, nz, 1, 1)
    real_eval = dataset.tensors[0][:256]
    with torch.no_grad():
        chance = -statistics_distance(netG(eval_noise), real_eval)
    real_label = 1
    fake_label = 0

    optimizerD = optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))

    losses = []
    for epoch in range(opt.niter):
        for i, data in enumerate(dataloader, 0):
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real_cpu = data[0]
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            noise = torch.randn(batch_size, nz, 1, 1)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            # (2) Update G network: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()
            losses.append(errD.item() + errG.item())
            print(f"[{epoch}/{opt.niter}][{i}/{len(dataloader)}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} "
                  f"D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}")

    with torch.no_grad():
        metric = -statistics_distance(netG(eval_noise), real_eval)
    _harness.report(metric=metric, metric_name="minus mean-image distance", chance=chance, losses=losses)


if __name__ == "__main__":
    main()
