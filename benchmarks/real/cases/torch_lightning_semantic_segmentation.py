"""Lightning `examples/pytorch/domain_templates/semantic_segmentation.py`: a U-Net trained on KITTI semantic
segmentation with a LightningModule.

Ported (re-written to the same model, loss, optimizer, schedule and loop): the `UNet` of the example
(`DoubleConv` = (3x3 conv, BatchNorm2d, ReLU) x 2; `Down` = MaxPool2d(2) + DoubleConv; `Up` = ConvTranspose2d
(k 2, s 2) upsampling, padding to the skip's size, concatenation and DoubleConv; a final 1x1 conv to 19
classes), `num_layers=5` and `bilinear=False` as the command-line defaults; the `KITTI` dataset's
`encode_segmap` (the 16 void label ids -> ignore index 250, the 19 valid ids -> 0..18, anything above 18 ->
250) and its seeded 80/20 train / valid split (`random.Random(12345)`); `ToTensor` + `Normalize` with the
example's KITTI mean / std; `F.cross_entropy(out, mask, ignore_index=250)` in `training_step` and
`validation_step`; Adam lr 1e-3 with `CosineAnnealingLR(T_max=10)` (stepped each epoch); batch 16 (the
command-line default) with a shuffled training loader; a Lightning `Trainer`.

Changes: the KITTI download (200 PNG images and label maps, resized to 1242 x 376) becomes 400 seeded street-
like scenes of 64 x 32 pixels drawn in the script (sky, road, sidewalk, buildings, vegetation, poles, cars
and pedestrians, each class with its own colour, plus void regions: an ego-vehicle strip, unlabeled patches
and static objects), labelled with KITTI's raw label ids and then encoded by `encode_segmap`;
`features_start` 8 instead of 64; 10 epochs instead of the Trainer's default 1,000 (one cosine period);
`configure_optimizers` reads `self.learning_rate`, which `SegModel` never sets (it stores `self.lr`), so the
port uses `self.lr` (the `--lr` default 1e-3); CPU; no logger, checkpoints or progress bar; the script keeps
each step's loss for the report. The measure is the pixel accuracy over the non-void pixels of the valid
split; chance is the share of its most frequent class.
"""

import random

import _harness
import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.data import DataLoader, Dataset

DEFAULT_VOID_LABELS = (0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30, -1)
DEFAULT_VALID_LABELS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
KITTI_MEAN = (0.35675976, 0.37380189, 0.3764753)
KITTI_STD = (0.32064945, 0.32098866, 0.32325324)

# KITTI / Cityscapes raw label ids used by the stand-in scenes, and their colours (RGB)
UNLABELED, EGO_VEHICLE, STATIC = 0, 1, 4
ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR = 7, 8, 11, 17, 21, 23, 24, 26
COLOURS = {ROAD: (90, 90, 95), SIDEWALK: (150, 130, 140), BUILDING: (120, 80, 60), POLE: (40, 40, 40),
           VEGETATION: (60, 130, 40), SKY: (110, 160, 220), PERSON: (220, 60, 60), CAR: (30, 50, 160),
           EGO_VEHICLE: (20, 20, 20), STATIC: (200, 200, 80)}


def street_scene(rng, height=32, width=64):
    """One stand-in KITTI frame: an RGB image (uint8, H x W x 3) and its raw label map (uint8, H x W)."""
    label = np.zeros((height, width), np.uint8)
    horizon = int(rng.integers(int(0.35 * height), int(0.55 * height)))
    label[:horizon] = SKY
    label[horizon:] = ROAD
    # sidewalk: a band along one or both sides of the road
    for side in rng.choice(2, size=int(rng.integers(1, 3)), replace=False):
        w = int(rng.integers(8, 20))
        for r in range(horizon, height):
            extent = w * (r - horizon + 1) // (height - horizon)
            if side == 0:
                label[r, :extent] = SIDEWALK
            else:
                label[r, width - extent:] = SIDEWALK
    # buildings and vegetation on the horizon
    for _ in range(int(rng.integers(2, 6))):
        x0, w = int(rng.integers(0, width - 8)), int(rng.integers(8, 30))
        top = int(rng.integers(2, horizon))
        label[top:horizon + 2, x0:x0 + w] = BUILDING if rng.random() < 0.6 else VEGETATION
    for _ in range(int(rng.integers(0, 3))):  # poles
        x0, top = int(rng.integers(0, width - 1)), int(rng.integers(2, horizon))
        label[top:height - int(rng.integers(2, 8)), x0:x0 + 1] = POLE
    for _ in range(int(rng.integers(1, 4))):  # cars on the road
        w, h = int(rng.integers(8, 16)), int(rng.integers(5, 9))
        x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(horizon - 2, height - h))
        label[y0:y0 + h, x0:x0 + w] = CAR
    for _ in range(int(rng.integers(0, 3))):  # pedestrians
        x0, y0 = int(rng.integers(0, width - 3)), int(rng.integers(horizon - 6, height - 10))
        label[y0:y0 + int(rng.integers(7, 11)), x0:x0 + 3] = PERSON
    # void: static objects, unlabeled patches and (in half the frames) the ego vehicle's bonnet
    for _ in range(int(rng.integers(0, 3))):
        x0, y0 = int(rng.integers(0, width - 6)), int(rng.integers(horizon, height - 4))
        label[y0:y0 + 4, x0:x0 + 6] = STATIC
    if rng.random() < 0.5:
        label[height - int(rng.integers(2, 5)):] = EGO_VEHICLE
    image = np.zeros((height, width, 3), np.float64)
    for raw_id, colour in COLOURS.items():
        image[label == raw_id] = colour
    for _ in range(int(rng.integers(0, 3))):  # unlabeled: patches of any colour
        x0, y0 = int(rng.integers(0, width - 5)), int(rng.integers(0, height - 5))
        label[y0:y0 + 5, x0:x0 + 5] = UNLABELED
        image[y0:y0 + 5, x0:x0 + 5] = rng.integers(0, 256, size=3)
    image *= rng.uniform(0.7, 1.3)  # the frame's exposure
    image += rng.normal(0.0, 25.0, size=image.shape)  # sensor noise
    return np.clip(image, 0, 255).astype(np.uint8), label


class KITTI(Dataset):
    """The example's KITTI dataset on in-memory stand-in frames (same encoding, same 80/20 split)."""

    def __init__(self, frames, split, void_labels=DEFAULT_VOID_LABELS, valid_labels=DEFAULT_VALID_LABELS,
                 transform=None):
        self.void_labels = void_labels
        self.valid_labels = valid_labels
        self.ignore_index = 250
        self.class_map = dict(zip(self.valid_labels, range(len(self.valid_labels)), strict=True))
        self.transform = transform
        self.split = split
        random_inst = random.Random(12345)  # for repeatability
        n_items = len(frames)
        idxs = random_inst.sample(range(n_items), n_items // 5)
        if self.split == "train":
            idxs = [idx for idx in range(n_items) if idx not in idxs]
        self.frames = [frames[i] for i in idxs]

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, idx):
        img, mask = self.frames[idx]
        mask = self.encode_segmap(torch.tensor(mask, dtype=torch.long))
        if self.transform:
            img = self.transform(img)
        return img, mask

    def encode_segmap(self, mask):
        """Sets void classes to the ignore index so they won't be considered for training."""
        for voidc in self.void_labels:
            mask[mask == voidc] = self.ignore_index
        for validc in self.valid_labels:
            mask[mask == validc] = self.class_map[validc]
        mask[mask > 18] = self.ignore_index
        return mask


def kitti_transform(img):
    """transforms.Compose([ToTensor(), Normalize(KITTI mean, std)]) (torchvision is not installed)."""
    x = torch.tensor(img, dtype=torch.float32).permute(2, 0, 1) / 255.0
    return (x - torch.tensor(KITTI_MEAN).view(3, 1, 1)) / torch.tensor(KITTI_STD).view(3, 1, 1)


class UNet(nn.Module):
    def __init__(self, num_classes: int = 19, num_layers: int = 5, features_start: int = 64, bilinear: bool = False):
        super().__init__()
        self.num_layers = num_layers
        layers = [DoubleConv(3, features_start)]
        feats = features_start
        for _ in range(num_layers - 1):
            layers.append(Down(feats, feats * 2))
            feats *= 2
        for _ in range(num_layers - 1):
            layers.append(Up(feats, feats // 2, bilinear))
            feats //= 2
        layers.append(nn.Conv2d(feats, num_classes, kernel_size=1))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        xi = [self.layers[0](x)]
        for layer in self.layers[1:self.num_layers]:  # down path
            xi.append(layer(xi[-1]))
        for i, layer in enumerate(self.layers[self.num_layers:-1]):  # up path
            xi[-1] = layer(xi[-1], xi[-2 - i])
        return self.layers[-1](xi[-1])


class DoubleConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.net(x)


class Down(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.net = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=2), DoubleConv(in_ch, out_ch))

    def forward(self, x):
        return self.net(x)


class Up(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, bilinear: bool = False):
        super().__init__()
        if bilinear:
            self.upsample = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                nn.Conv2d(in_ch, in_ch // 2, kernel_size=1),
            )
        else:
            self.upsample = nn.ConvTranspose2d(in_ch, in_ch // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_ch, out_ch)

    def forward(self, x1, x2):
        x1 = self.upsample(x1)
        diff_h = x2.shape[2] - x1.shape[2]
        diff_w = x2.shape[3] - x1.shape[3]
        x1 = F.pad(x1, [diff_w // 2, diff_w - diff_w // 2, diff_h // 2, diff_h - diff_h // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class SegModel(pl.LightningModule):
    def __init__(self, frames, batch_size: int = 4, lr: float = 1e-3, num_layers: int = 3, features_start: int = 64,
                 bilinear: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self.lr = lr
        self.num_layers = num_layers
        self.features_start = features_start
        self.bilinear = bilinear
        self.net = UNet(num_classes=19, num_layers=self.num_layers, features_start=self.features_start,
                        bilinear=self.bilinear)
        self.transform = kitti_transform
        self.trainset = KITTI(frames, split="train", transform=self.transform)
        self.validset = KITTI(frames, split="valid", transform=self.transform)
        self.seen_losses = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_nb):
        img, mask = batch
        img = img.float()
        mask = mask.long()
        out = self(img)
        loss = F.cross_entropy(out, mask, ignore_index=250)
        self.seen_losses.append(float(loss.detach()))
        log_dict = {"train_loss": loss}
        return {"loss": loss, "log": log_dict, "progress_bar": log_dict}

    def validation_step(self, batch, batch_idx):
        img, mask = batch
        img = img.float()
        mask = mask.long()
        out = self(img)
        val_loss = F.cross_entropy(out, mask, ignore_index=250)
        self.log("val_loss", val_loss, prog_bar=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)  # upstream: self.learning_rate (never set)
        sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        return [opt], [sch]

    def train_dataloader(self):
        return DataLoader(self.trainset, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.validset, batch_size=self.batch_size, shuffle=False)


def main():
    _harness.seed_everything()
    rng = np.random.default_rng(_harness.seed())
    frames = [street_scene(rng) for _ in range(400)]
    # the command line's defaults: batch 16, lr 1e-3, 5 layers, no bilinear upsampling
    model = SegModel(frames, batch_size=16, lr=1e-3, num_layers=5, features_start=8, bilinear=False)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=10, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=_harness.callbacks("lightning"))
    trainer.fit(model)

    model.eval()
    correct = total = 0
    counts = torch.zeros(19, dtype=torch.long)
    with torch.no_grad():
        for img, mask in model.val_dataloader():
            pred = model(img.float()).argmax(dim=1)
            valid = mask != 250
            correct += int((pred[valid] == mask[valid]).sum())
            total += int(valid.sum())
            counts += torch.bincount(mask[valid], minlength=19)
    accuracy = correct / total
    chance = float(counts.max()) / total
    _harness.report(metric=accuracy, metric_name="pixel accuracy (non-void)", chance=chance, losses=model.seen_losses)


if __name__ == "__main__":
    main()
