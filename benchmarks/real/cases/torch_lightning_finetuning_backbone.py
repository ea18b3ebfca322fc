"""Lightning `examples/pytorch/domain_templates/computer_vision_fine_tuning.py`: transfer learning on cats vs
dogs with a ResNet backbone that a `BaseFinetuning` callback freezes before training and unfreezes at two
milestone epochs.

Ported (re-written to the same model, loss, optimizer, schedule, callback and Trainer settings): the feature
extractor is the backbone's children but its last (`fc`), followed by a head Linear -> 256, ReLU,
Linear -> 32, Linear -> 1 and `F.binary_cross_entropy_with_logits` on the logits (torchmetrics binary
Accuracy on their sigmoid). `MilestonesFinetuning(milestones=(5, 10), train_bn=False)` freezes the whole
feature extractor (BatchNorm included) in `freeze_before_training`; at epoch 5 `unfreeze_and_add_param_group`
adds its last 5 children (layer1..layer4, avgpool) to the optimizer as a new param group (lr / 10), at
epoch 10 the remaining ones. Adam lr 1e-3 on the parameters that require grad, MultiStepLR(milestones=(5,
10), gamma=0.1); batch 8; 15 epochs; `num_sanity_val_steps=0` (the example's LightningCLI defaults, the
CLI linking the finetuning milestones and the data batch size into the model).

Changes: torchvision is not installed and no weights can be downloaded, so `get_torchvision_model("resnet50",
weights="DEFAULT")` becomes a small ResNet written here in torchvision's layout (conv1, bn1, relu, maxpool,
layer1..layer4 of Bottleneck blocks, avgpool, fc, torchvision's initialisation) with one block per stage
and a quarter of ResNet-50's widths, so 512 features instead of 2048 (the head's first Linear is 512 -> 256),
starting from random weights; as a stand-in for the pretrained BatchNorm statistics (the frozen
BatchNorm layers stop tracking them and evaluate with what they hold), the backbone's running statistics are
measured once on the training images before fitting. The cats_and_dogs_filtered download (2,000 train /
1,000 validation photos) becomes 240 / 80 generated 96x96 images (cats: round head with pointed ears,
grey / orange / cream coat with dark stripes; dogs: larger, longer head with floppy ears, brown / golden /
black coat with darker patches; random backgrounds); Resize 64x64 instead of 224x224; the transforms are torch ops instead of torchvision's;
LightningCLI becomes direct construction; seed_everything 1234 becomes the benchmark's seed; CPU, no logger,
checkpoints or progress bar; num_workers 0.
"""

import _data
import _harness
import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks.finetuning import BaseFinetuning
from torch import nn, optim
from torch.optim.lr_scheduler import MultiStepLR
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader, Dataset
from torchmetrics import Accuracy

IMAGE_SIZE = 64  # the example's Resize((224, 224))
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


# --- a small ResNet in torchvision's layout (torchvision is not installed) ---

def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(1, 1, 1, 1), width=16, num_classes=1000):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * Bottleneck.expansion, stride),
                                       nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- stand-in for cats_and_dogs_filtered ---

def cats_and_dogs(seed, n, size=96):
    """uint8 photos (n, size, size, 3) and labels (0 = cats, 1 = dogs, ImageFolder's order), balanced."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    room = _data.smooth_fields(rng, n, size, 3)
    fur = _data.smooth_fields(rng, n, size, 8)
    images = np.empty((n, size, size, 3))
    cat_coats = [[0.6, 0.6, 0.62], [0.95, 0.6, 0.25], [0.9, 0.85, 0.7], [0.75, 0.7, 0.6]]
    dog_coats = [[0.55, 0.35, 0.18], [0.8, 0.6, 0.3], [0.12, 0.1, 0.08], [0.35, 0.22, 0.12]]
    for k in range(n):
        dog = labels[k] == 1
        img = rng.uniform(0.2, 0.9, 3) * (0.7 + 0.6 * room[k][..., None])
        coat = np.asarray((dog_coats if dog else cat_coats)[rng.integers(4)]) + rng.normal(0, 0.08, 3)
        s = rng.uniform(1.2, 1.5) * (1.15 if dog else 1.0)  # dogs are larger
        cx, cy = rng.uniform(0.4, 0.6), rng.uniform(0.55, 0.65)
        side = rng.choice([-1.0, 1.0])
        body = ((xx - cx) / (0.28 * s)) ** 2 + ((yy - cy - 0.1 * s) / (0.17 * s)) ** 2 < 1
        hx, hy = cx + side * 0.2 * s, cy - 0.15 * s
        ears = np.zeros((size, size), bool)
        if dog:  # longer head (muzzle), floppy ears hanging beside it, patched coat
            head = ((xx - hx) / (0.14 * s)) ** 2 + ((yy - hy) / (0.11 * s)) ** 2 < 1
            head |= ((xx - hx - side * 0.11 * s) / (0.08 * s)) ** 2 + ((yy - hy - 0.03 * s) / (0.05 * s)) ** 2 < 1
            for e in (-1, 1):
                ears |= ((xx - hx - e * 0.12 * s) / (0.04 * s)) ** 2 + ((yy - hy - 0.03 * s) / (0.1 * s)) ** 2 < 1
            patches = (fur[k] > rng.uniform(0.55, 0.7))[..., None]
            shade = np.where(patches, coat * rng.uniform(0.3, 0.7), coat)
            ear_colour = coat * 0.6
        else:  # round head, pointed ears on top, tabby stripes
            head = ((xx - hx) / (0.11 * s)) ** 2 + ((yy - hy) / (0.1 * s)) ** 2 < 1
            for e in (-1, 1):
                up = (hy - 0.08 * s - yy) / (0.1 * s)  # 0 at the ear's base, 1 at its tip
                ears |= (up > 0) & (up < 1) & (np.abs(xx - hx - e * 0.07 * s) < 0.045 * s * (1 - up))
            stripes = np.sin((xx * np.cos(0.3) + yy * np.sin(0.3)) * rng.uniform(60, 80)) > 0.0
            shade = np.where(stripes[..., None], coat * rng.uniform(0.2, 0.45), coat)
            ear_colour = coat
        img = np.where((body | head)[..., None], shade, img)
        images[k] = np.where(ears[..., None], ear_colour, img)
    images += rng.normal(0, 0.04, images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


class ImageFolderLike(Dataset):
    """The photos after Resize((IMAGE_SIZE, IMAGE_SIZE)), ToTensor and Normalize; RandomHorizontalFlip when
    training."""

    def __init__(self, images, labels, train):
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
        self.images = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
        self.labels = torch.as_tensor(labels)
        self.train = train

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        x = self.images[index]
        if self.train and torch.rand(1).item() < 0.5:
            x = torch.flip(x, dims=[2])
        return x, self.labels[index]


#  --- Finetuning Callback ---

class MilestonesFinetuning(BaseFinetuning):
    def __init__(self, milestones: tuple = (5, 10), train_bn: bool = False):
        super().__init__()
        self.milestones = milestones
        self.train_bn = train_bn

    def freeze_before_training(self, pl_module: LightningModule):
        self.freeze(modules=pl_module.feature_extractor, train_bn=self.train_bn)

    def finetune_function(self, pl_module: LightningModule, epoch: int, optimizer: Optimizer):
        if epoch == self.milestones[0]:
            # unfreeze 5 last layers
            self.unfreeze_and_add_param_group(
                modules=pl_module.feature_extractor[-5:], optimizer=optimizer, train_bn=self.train_bn
            )
        elif epoch == self.milestones[1]:
            # unfreeze remaining layers
            self.unfreeze_and_add_param_group(
                modules=pl_module.feature_extractor[:-5], optimizer=optimizer, train_bn=self.train_bn
            )


class CatDogImageDataModule(LightningDataModule):
    def __init__(self, num_workers: int = 0, batch_size: int = 8, seed: int = 0):
        super().__init__()
        self._num_workers = num_workers
        self._batch_size = batch_size
        self._seed = seed

    def setup(self, stage=None):
        if hasattr(self, "train_set"):  # set up once (the script calls it before fit)
            return
        self.train_set = ImageFolderLike(*cats_and_dogs(self._seed, 240), train=True)
        self.valid_set = ImageFolderLike(*cats_and_dogs(self._seed + 1000, 80), train=False)

    def __dataloader(self, train: bool):
        dataset = self.train_set if train else self.valid_set
        return DataLoader(dataset=dataset, batch_size=self._batch_size, num_workers=self._num_workers, shuffle=train)

    def train_dataloader(self):
        return self.__dataloader(train=True)

    def val_dataloader(self):
        return self.__dataloader(train=False)


#  --- Lightning module ---

class TransferLearningModel(LightningModule):
    def __init__(self, train_bn: bool = False, milestones: tuple = (2, 4), batch_size: int = 32, lr: float = 1e-3,
                 lr_scheduler_gamma: float = 1e-1, num_workers: int = 6):
        super().__init__()
        self.train_bn = train_bn
        self.milestones = milestones
        self.batch_size = batch_size
        self.lr = lr
        self.lr_scheduler_gamma = lr_scheduler_gamma
        self.num_workers = num_workers
        self.__build_model()
        self.train_acc = Accuracy(task="binary")
        self.valid_acc = Accuracy(task="binary")
        self.save_hyperparameters()
        self.seen_losses = []

    def __build_model(self):
        # 1. The backbone (the example: get_torchvision_model("resnet50", weights="DEFAULT")):
        backbone = ResNet()
        _layers = list(backbone.children())[:-1]
        self.feature_extractor = nn.Sequential(*_layers)

        # 2. Classifier:
        num_features = backbone.fc.in_features  # the example's 2048 (ResNet-50)
        _fc_layers = [nn.Linear(num_features, 256), nn.ReLU(), nn.Linear(256, 32), nn.Linear(32, 1)]
        self.fc = nn.Sequential(*_fc_layers)

        # 3. Loss:
        self.loss_func = F.binary_cross_entropy_with_logits

    def forward(self, x):
        x = self.feature_extractor(x)
        x = x.squeeze(-1).squeeze(-1)
        return self.fc(x)

    def loss(self, logits, labels):
        return self.loss_func(input=logits, target=labels)

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_logits = self.forward(x)
        y_scores = torch.sigmoid(y_logits)
        y_true = y.view((-1, 1)).type_as(x)
        train_loss = self.loss(y_logits, y_true)
        self.log("train_acc", self.train_acc(y_scores, y_true.int()), prog_bar=True)
        self.seen_losses.append(train_loss.item())
        return train_loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_logits = self.forward(x)
        y_scores = torch.sigmoid(y_logits)
        y_true = y.view((-1, 1)).type_as(x)
        self.log("val_loss", self.loss(y_logits, y_true), prog_bar=True)
        self.log("val_acc", self.valid_acc(y_scores, y_true.int()), prog_bar=True)

    def configure_optimizers(self):
        parameters = list(self.parameters())
        trainable_parameters = list(filter(lambda p: p.requires_grad, parameters))
        print(f"The model will start training with only {len(trainable_parameters)} "
              f"trainable parameters out of {len(parameters)}.")
        optimizer = optim.Adam(trainable_parameters, lr=self.lr)
        scheduler = MultiStepLR(optimizer, milestones=self.milestones, gamma=self.lr_scheduler_gamma)
        return [optimizer], [scheduler]


def calibrate_batchnorm(feature_extractor, dataset):
    """Stand-in for pretrained BatchNorm statistics: the running mean / var of the random backbone's
    BatchNorm layers, measured (cumulative average) on the training images."""
    bns = [m for m in feature_extractor.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    feature_extractor.train()
    with torch.no_grad():
        for x, _ in DataLoader(dataset, batch_size=40):
            feature_extractor(x)
    for bn in bns:
        bn.momentum = 0.1


def main():
    seed = _harness.seed_everything()
    milestones, train_bn, batch_size = (5, 10), False, 8  # finetuning.* and data.batch_size, linked by the CLI
    datamodule = CatDogImageDataModule(batch_size=batch_size, seed=seed)
    model = TransferLearningModel(train_bn=train_bn, milestones=milestones, batch_size=batch_size)
    datamodule.setup("fit")
    calibrate_batchnorm(model.feature_extractor, datamodule.train_set)

    trainer = pl.Trainer(max_epochs=15, enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu",
                         devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         callbacks=[MilestonesFinetuning(milestones=milestones, train_bn=train_bn),
                                    *_harness.callbacks("lightning")])
    trainer.fit(model, datamodule=datamodule)
    val_acc = float(trainer.callback_metrics["val_acc"])
    _harness.report(metric=val_acc, metric_name="accuracy", chance=0.5, losses=model.seen_losses)


if __name__ == "__main__":
    main()
