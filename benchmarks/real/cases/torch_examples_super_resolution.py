"""pytorch/examples `super_resolution/main.py` + `model.py`: ESPCN, the efficient sub-pixel convolution network.

Ported (re-written to the same model, loss, optimizer and loop): conv1 5x5 1->64, conv2 3x3 64->64, conv3 3x3
64->32 (each followed by ReLU), conv4 3x3 32->r^2 and `nn.PixelShuffle(r)`, the first three initialized
orthogonally with the ReLU gain and conv4 orthogonally with gain 1; `nn.MSELoss`, Adam; each epoch trains on
shuffled batches and then reports the average over test batches of PSNR = 10 log10(1 / MSE). The settings are
the README's training command: `--upscale_factor 3 --batchSize 4 --testBatchSize 100 --lr 0.001`. The data
pipeline is the example's: the Y (luminance) channel of each image, `CenterCrop(255)` (256 less 256 mod 3) as
the target and `CenterCrop(255)` + `Resize(85)` (PIL bilinear) as the input, both `ToTensor()` in [0, 1].

BSDS300 cannot be downloaded here, so its images become generated 8-bit luminance images of BSDS's size
(481 x 321, a third of them portrait) with natural-image structure: a random field with a 1/f amplitude
spectrum, plus opaque shapes (discs and polygons) with sharp, slightly blurred edges and fine grain. Fewer
images and epochs (see the TOML's `changes`).
"""

import argparse
from math import log10

import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from scipy.ndimage import gaussian_filter
from torch import nn, optim
from torch.nn import init
from torch.utils import data
from torch.utils.data import DataLoader


# ---------------------------------------------------------------------------------------------- model.py
class Net(nn.Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv4.weight)


# ------------------------------------------------------------------------------- the BSDS300 stand-in
def bsds_like_luminance(n, seed):
    """``n`` 8-bit luminance images (PIL mode "L") of 481 x 321 or 321 x 481 pixels."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        h, w = (481, 321) if rng.random() < 1 / 3 else (321, 481)
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        f = np.sqrt(fy ** 2 + fx ** 2)
        f[0, 0] = 1.0

        def field(exponent):
            spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f ** exponent
            spectrum[0, 0] = 0.0
            out = np.fft.irfft2(spectrum, s=(h, w))
            return out / out.std()

        img = 0.5 + 0.15 * field(rng.uniform(0.9, 1.2))
        texture = field(rng.uniform(0.5, 0.8))  # fine detail (foliage, fabric, grain) inside the objects
        yy, xx = np.ogrid[0:h, 0:w]
        for _ in range(rng.integers(4, 10)):  # opaque objects with sharp outlines
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            if rng.random() < 0.5:
                ry, rx = rng.uniform(15, 120, size=2)
                mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0
            else:
                mask = np.ones((h, w), dtype=bool)
                for angle in rng.uniform(0, 2 * np.pi, size=rng.integers(3, 6)):
                    mask &= (yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle) < rng.uniform(20, 110)
            shade = rng.uniform(0.0, 1.0)
            img = np.where(mask, 0.7 * shade + 0.3 * img + rng.uniform(0.0, 0.12) * texture, img)
        img = gaussian_filter(img, rng.uniform(0.5, 1.0))  # the camera's blur
        img = img + rng.normal(0, 0.01, size=img.shape)  # grain
        lo, hi = np.percentile(img, [1, 99])
        img = np.clip((img - lo) / (hi - lo) * rng.uniform(0.6, 0.95) + rng.uniform(0.02, 0.1), 0.0, 1.0)
        images.append(Image.fromarray(np.round(img * 255).astype(np.uint8), mode="L"))
    return images


# ----------------------------------------------------------------------------- data.py and dataset.py
def center_crop(img, size):
    """torchvision's ``CenterCrop(size)`` on a PIL image."""
    w, h = img.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def to_tensor(img):
    """torchvision's ``ToTensor()`` on a mode "L" PIL image: (1, H, W) float in [0, 1]."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)


def calculate_valid_crop_size(crop_size, upscale_factor):
    return crop_size - (crop_size % upscale_factor)


def input_transform(crop_size, upscale_factor):
    # CenterCrop(crop_size), Resize(crop_size // upscale_factor) (bilinear on PIL), ToTensor()
    size = crop_size // upscale_factor
    return lambda img: to_tensor(center_crop(img, crop_size).resize((size, size), Image.BILINEAR))


def target_transform(crop_size):
    return lambda img: to_tensor(center_crop(img, crop_size))


class DatasetFromImages(data.Dataset):
    """``DatasetFromFolder`` over images held in memory (each already the Y channel)."""

    def __init__(self, images, input_transform=None, target_transform=None):
        super().__init__()
        self.images = images
        self.input_transform = input_transform
        self.target_transform = target_transform

    def __getitem__(self, index):
        inp = self.images[index]
        target = inp.copy()
        if self.input_transform:
            inp = self.input_transform(inp)
        if self.target_transform:
            target = self.target_transform(target)
        return inp, target

    def __len__(self):
        return len(self.images)


def get_set(images, upscale_factor):
    crop_size = calculate_valid_crop_size(256, upscale_factor)
    return DatasetFromImages(images, input_transform=input_transform(crop_size, upscale_factor),
                             target_transform=target_transform(crop_size))


# --------------------------------------------------------------------------------------------- main.py
def main():
    parser = argparse.ArgumentParser(description="PyTorch Super Res Example")
    parser.add_argument("--upscale_factor", type=int, default=3)
    parser.add_argument("--batchSize", type=int, default=4)
    parser.add_argument("--testBatchSize", type=int, default=100)
    parser.add_argument("--nEpochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--n_train", type=int, default=64)
    parser.add_argument("--n_test", type=int, default=16)
    opt = parser.parse_args()
    _harness.seed_everything()

    images = bsds_like_luminance(opt.n_train + opt.n_test, seed=0)
    train_set = get_set(images[:opt.n_train], opt.upscale_factor)
    test_set = get_set(images[opt.n_train:], opt.upscale_factor)
    training_data_loader = DataLoader(dataset=train_set, batch_size=opt.batchSize, shuffle=True)
    testing_data_loader = DataLoader(dataset=test_set, batch_size=opt.testBatchSize, shuffle=False)

    model = Net(upscale_factor=opt.upscale_factor)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=opt.lr)
    losses = []

    def train(epoch):
        epoch_loss = 0
        for iteration, batch in enumerate(training_data_loader, 1):
            inp, target = batch[0], batch[1]
            optimizer.zero_grad()
            loss = criterion(model(inp), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            print(f"===> Epoch[{epoch}]({iteration}/{len(training_data_loader)}): Loss: {loss.item():.4f}")
        print(f"===> Epoch {epoch} Complete: Avg. Loss: {epoch_loss / len(training_data_loader):.4f}")

    def test(predict):
        avg_psnr = 0
        with torch.no_grad():
            for batch in testing_data_loader:
                inp, target = batch[0], batch[1]
                mse = criterion(predict(inp), target)
                avg_psnr += 10 * log10(1 / mse.item())
        return avg_psnr / len(testing_data_loader)

    psnr = float("nan")
    for epoch in range(1, opt.nEpochs + 1):
        train(epoch)
        psnr = test(model)
        print(f"===> Avg. PSNR: {psnr:.4f} dB")

    # chance: a prediction that ignores its input, every pixel the mean training target intensity
    mean_y = torch.stack([train_set[i][1].mean() for i in range(len(train_set))]).mean()
    crop = calculate_valid_crop_size(256, opt.upscale_factor)
    chance = test(lambda inp: torch.full((inp.shape[0], 1, crop, crop), mean_y.item()))
    bicubic = test(lambda inp: F.interpolate(inp, scale_factor=opt.upscale_factor, mode="bicubic",
                                             align_corners=False).clamp(0, 1))
    print(f"constant prediction PSNR {chance:.4f} dB, bicubic upscale PSNR {bicubic:.4f} dB")
    _harness.report(metric=psnr, metric_name="psnr_db", chance=chance, losses=losses, bicubic_psnr=bicubic)


if __name__ == "__main__":
    main()
