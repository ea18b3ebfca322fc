"""PyTorch tutorial "Transfer Learning for Computer Vision" (beginner_source/transfer_learning_tutorial.py), the
"ConvNet as fixed feature extractor" part: a ResNet-18 whose parameters all get ``requires_grad = False``,
a new ``fc = nn.Linear(num_ftrs, 2)`` trained alone on ants vs bees.

Ported (re-written to the same model, loss, optimizer, schedule and loop): ``nn.CrossEntropyLoss``,
``SGD(model.fc.parameters(), lr=0.001, momentum=0.9)``, ``StepLR(step_size=7, gamma=0.1)`` stepped after each
training phase, batch 4 with shuffling, and ``train_model``'s epochs of a 'train' phase (``model.train()``,
grad enabled) then a 'val' phase (``model.eval()``, no grad), keeping the weights of the best validation
accuracy and returning them. The augmentation is the tutorial's: RandomResizedCrop + RandomHorizontalFlip
for training, Resize + CenterCrop for validation, then the ImageNet Normalize.

Changes: torchvision is not installed and no weights can be downloaded, so ``torchvision.models.resnet18``
is re-written here (the same layers and initialisation) and starts from random weights instead of
IMAGENET1K_V1; the hymenoptera download (about 245 train / 153 val photos) becomes 120 / 60 generated
96x96 images (ants: small dark three-segment bodies with legs on soil- or leaf-coloured backgrounds; bees:
one rounder yellow body with dark bands on flower-coloured backgrounds; the background palettes overlap);
crops are 64x64 instead of 224x224 (Resize 73 instead of 256); 10 epochs instead of 25; the transforms are
written with torch ops instead of torchvision.transforms; num_workers 0; the best weights are kept in
memory instead of a temporary file; no plots or CUDA.
"""

import copy
import math
import time

import _data
import _harness
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: N812
import torch.optim as optim
from torch.optim import lr_scheduler

IMAGE_SIZE = 64  # the tutorial's 224
RESIZE = 73  # the tutorial's 256 (same ratio)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


# --- torchvision.models.resnet18, re-written (torchvision is not installed) ---

def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18():
    return ResNet(BasicBlock, [2, 2, 2, 2])


# --- stand-in for hymenoptera_data (ants / bees), and the tutorial's transforms ---

def hymenoptera_images(seed, n, size=96):
    """uint8 (n, size, size, 3) photos and labels (0 = ants, 1 = bees, balanced), like ImageFolder's."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    texture = _data.smooth_fields(rng, n, size, 6)
    images = np.empty((n, size, size, 3))
    bee_palette = [[0.75, 0.45, 0.7], [0.55, 0.45, 0.8], [0.35, 0.6, 0.3], [0.9, 0.85, 0.5]]
    ant_palette = [[0.5, 0.38, 0.25], [0.35, 0.55, 0.3], [0.6, 0.55, 0.45], [0.45, 0.45, 0.45]]
    for k in range(n):
        bee = labels[k] == 1
        bg = np.asarray((bee_palette if bee else ant_palette)[rng.integers(4)])
        bg = np.clip(bg + rng.normal(0, 0.12, 3), 0, 1)
        img = bg * (0.6 + 0.8 * texture[k][..., None])
        theta = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(0.3, 0.7, 2) * size
        u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
        v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
        s = size * rng.uniform(0.8, 1.2)
        if bee:
            body = (u / (0.2 * s)) ** 2 + (v / (0.13 * s)) ** 2 < 1
            band = np.cos(u / (0.2 * s) * np.pi * rng.uniform(2.5, 3.5)) > 0
            colour = np.where(band[..., None], np.array([0.95, 0.75, 0.1]) + rng.normal(0, 0.06, 3), 0.08)
        else:
            body = np.zeros((size, size), bool)
            for offset, r in ((-0.17, 0.055), (0.0, 0.045), (0.16, 0.075)):  # head, thorax, abdomen
                body |= ((u - offset * s) / (1.3 * r * s)) ** 2 + (v / (r * s)) ** 2 < 1
            for leg in (-0.06, 0.0, 0.06):
                body |= (np.abs(u - leg * s) < 0.012 * s) & (np.abs(v) < 0.14 * s)
            colour = np.array([0.35, 0.12, 0.05]) * rng.uniform(0.2, 1.2) + rng.normal(0, 0.03, 3)
        images[k] = np.where(body[..., None], colour, img)
    images += rng.normal(0, 0.04, images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


def to_tensor_normalized(image):
    x = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0  # ToTensor
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]  # Normalize


def resize(x, size):
    return F.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def random_resized_crop(x, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """transforms.RandomResizedCrop(size): a random area / aspect crop resized to size x size."""
    height, width = x.shape[-2:]
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item())
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,)).item()
            j = torch.randint(0, width - w + 1, size=(1,)).item()
            return resize(x[:, i:i + h, j:j + w], (size, size))
    return resize(x, (size, size))  # the fallback (square images: the whole image)


def train_transform(image):
    x = random_resized_crop(to_tensor_normalized(image), IMAGE_SIZE)
    return torch.flip(x, dims=[2]) if torch.rand(1).item() < 0.5 else x  # RandomHorizontalFlip


def val_transform(image):
    x = resize(to_tensor_normalized(image), (RESIZE, RESIZE))  # Resize (square images)
    top = (RESIZE - IMAGE_SIZE) // 2
    return x[:, top:top + IMAGE_SIZE, top:top + IMAGE_SIZE]  # CenterCrop


class ImageDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.transform(self.images[index]), int(self.labels[index])


_harness.seed_everything()
seed = _harness.seed()
train_images, train_labels = hymenoptera_images(seed, 120)
val_images, val_labels = hymenoptera_images(seed + 1000, 60)
image_datasets = {"train": ImageDataset(train_images, train_labels, train_transform),
                  "val": ImageDataset(val_images, val_labels, val_transform)}
dataloaders = {x: torch.utils.data.DataLoader(image_datasets[x], batch_size=4, shuffle=True, num_workers=0)
               for x in ["train", "val"]}
dataset_sizes = {x: len(image_datasets[x]) for x in ["train", "val"]}
device = torch.device("cpu")
train_losses = []


def train_model(model, criterion, optimizer, scheduler, num_epochs=25):
    since = time.time()
    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0

    for epoch in range(num_epochs):
        print(f"Epoch {epoch}/{num_epochs - 1}")
        print("-" * 10)

        # Each epoch has a training and validation phase
        for phase in ["train", "val"]:
            if phase == "train":
                model.train()  # Set model to training mode
            else:
                model.eval()  # Set model to evaluate mode

            running_loss = 0.0
            running_corrects = 0

            for inputs, labels in dataloaders[phase]:
                inputs = inputs.to(device)
                labels = labels.to(device)
                optimizer.zero_grad()

                # track history if only in train
                with torch.set_grad_enabled(phase == "train"):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)

                    # backward + optimize only if in training phase
                    if phase == "train":
                        loss.backward()
                        optimizer.step()
                        train_losses.append(loss.item())

                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)
            if phase == "train":
                scheduler.step()

            epoch_loss = running_loss / dataset_sizes[phase]
            epoch_acc = running_corrects.double() / dataset_sizes[phase]
            print(f"{phase} Loss: {epoch_loss:.4f} Acc: {epoch_acc:.4f}")

            # deep copy the model
            if phase == "val" and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())
        print()

    time_elapsed = time.time() - since
    print(f"Training complete in {time_elapsed // 60:.0f}m {time_elapsed % 60:.0f}s")
    print(f"Best val Acc: {best_acc:4f}")
    model.load_state_dict(best_model_wts)
    return model


def evaluate(model):
    model.eval()
    correct = 0
    with torch.no_grad():
        for inputs, labels in dataloaders["val"]:
            correct += (model(inputs).argmax(1) == labels).sum().item()
    return correct / dataset_sizes["val"]


# ConvNet as fixed feature extractor
model_conv = resnet18()  # the tutorial: resnet18(weights='IMAGENET1K_V1'); no download here
for param in model_conv.parameters():
    param.requires_grad = False

# Parameters of newly constructed modules have requires_grad=True by default
num_ftrs = model_conv.fc.in_features
model_conv.fc = nn.Linear(num_ftrs, 2)
model_conv = model_conv.to(device)

criterion = nn.CrossEntropyLoss()

# Observe that only parameters of final layer are being optimized
optimizer_conv = optim.SGD(model_conv.fc.parameters(), lr=0.001, momentum=0.9)

# Decay LR by a factor of 0.1 every 7 epochs
exp_lr_scheduler = lr_scheduler.StepLR(optimizer_conv, step_size=7, gamma=0.1)

model_conv = train_model(model_conv, criterion, optimizer_conv, exp_lr_scheduler, num_epochs=10)

_harness.report(metric=evaluate(model_conv), metric_name="accuracy", chance=0.5, losses=train_losses)
