"""Hugging Face transformers `examples/pytorch/image-classification/run_image_classification.py`: a ViT image
classifier trained with `Trainer` on an image folder, with the README's command (evaluate and save every epoch,
`load_best_model_at_end`, logging every 10 steps, batch 8, 5 epochs).

Ported (re-written to the same data flow, transforms, model class, collator, Trainer and arguments): the image
folder has no validation split, so `train_val_split=0.15` of the training images becomes the validation set
(`train_test_split`, shuffled); `label2id` / `id2label` map the class names to string ids in the config; the
model is `ViTForImageClassification` with `num_labels`, `finetuning_task="image-classification"`; images go
through `pil_img.convert("RGB")` and the feature extractor's size and `Normalize(mean=image_mean,
std=image_std)` (0.5, 0.5): training with `RandomResizedCrop(size)` (scale 0.08-1, ratio 3/4-4/3) and
`RandomHorizontalFlip()`, validation with `Resize(size)` + `CenterCrop(size)`; the transforms run lazily per
item (`set_transform`); `collate_fn` stacks `pixel_values` and `labels`; `compute_metrics` is the argmax
accuracy. `TrainingArguments` as the README's command: `--do_train --do_eval --learning_rate 2e-5
--num_train_epochs 5 --per_device_train_batch_size 8 --per_device_eval_batch_size 8 --logging_strategy steps
--logging_steps 10 --evaluation_strategy epoch --save_strategy epoch --load_best_model_at_end True
--save_total_limit 3 --seed 1337 --remove_unused_columns False`; then `trainer.train()` and
`trainer.evaluate()`.

Changes: the beans download and the pretrained `google/vit-base-patch16-224-in21k` (config, feature extractor,
weights) become a tiny, randomly initialized `ViTConfig` (32x32 images, 8x8 patches, hidden 64, 2 layers, 2
heads, intermediate 128) and a local beans-like image folder generated in the script (`beans_like_folder`: the
three beans classes, 1,200 32x32 RGB leaves, so 1,020 train / 180 validation) held as numpy arrays instead of
PIL files (`datasets` is not installed); torchvision's transforms are written out in torch (torchvision is not
installed); the feature extractor's size 32 instead of 224; checkpoints go to a temporary folder; seed = the
benchmark's; no model card, saved metrics or Hub push (CPU). With this transformers version the best
checkpoint reloads with a key-name mismatch warning (the encoder layers keep their in-memory weights).
"""

import math
import os
import tempfile

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification, set_seed

IMAGE_SIZE = 32
IMAGE_MEAN, IMAGE_STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]  # ViT feature extractor defaults


# --- torchvision.transforms, written out for (C, H, W) float tensors ---------------------------------------

def to_tensor_rgb(image):
    """`pil_img.convert("RGB")` then `ToTensor()`: a uint8 (H, W, 3) image -> float (3, H, W) in [0, 1]."""
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def resize(img, size):
    return F.interpolate(img[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def center_crop(img, size):
    _, h, w = img.shape
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img[:, top:top + size, left:left + size]


def random_resized_crop(img, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """`RandomResizedCrop(size)`: a random area and aspect ratio (10 tries, else a centre crop), resized."""
    _, height, width = img.shape
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect_ratio = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item())
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,)).item()
            j = torch.randint(0, width - w + 1, size=(1,)).item()
            break
    else:
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        i, j = (height - h) // 2, (width - w) // 2
    crop = img[:, i:i + h, j:j + w]
    return F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def random_horizontal_flip(img, p=0.5):
    return img.flip(-1) if torch.rand(1).item() < p else img


def normalize(img):
    mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(3, 1, 1)
    return (img - mean) / std


def _train_transforms(image):
    return normalize(random_horizontal_flip(random_resized_crop(to_tensor_rgb(image), IMAGE_SIZE)))


def _val_transforms(image):
    return normalize(center_crop(resize(to_tensor_rgb(image), IMAGE_SIZE), IMAGE_SIZE))


class ImageFolderSplit(torch.utils.data.Dataset):
    """A split of the image folder ({"image", "labels"} rows) with a lazily applied transform."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels
        self.transform = None

    def set_transform(self, transform):
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        batch = self.transform({"image": [self.images[i]], "labels": [int(self.labels[i])]})
        return {key: values[0] for key, values in batch.items()}


LABELS = ["angular_leaf_spot", "bean_rust", "healthy"]  # the beans data set's classes


def beans_like_folder(seed, n, size=IMAGE_SIZE):
    """A stand-in for the beans image folder: uint8 (n, size, size, 3) leaf photos and their class ids. A leaf
    is a green field of smooth random shading; angular leaf spot adds 2-5 pale yellow-brown blocks of 3-7
    pixels, bean rust 12-30 dark rust-brown dots of 1-2 pixels, a healthy leaf nothing."""
    rng = np.random.default_rng(seed + 77)
    shade = _data.smooth_fields(rng, n, size, 4)
    base = np.array([70.0, 140.0, 55.0])
    images = base * (0.7 + 0.6 * shade[..., None]) + rng.normal(0, 6, size=(n, size, size, 3))
    targets = rng.integers(0, 3, size=n)
    for k in range(n):
        if targets[k] == 0:
            for _ in range(rng.integers(2, 6)):
                h, w = rng.integers(3, 8, size=2)
                y, x = rng.integers(0, size - h), rng.integers(0, size - w)
                images[k, y:y + h, x:x + w] = np.array([185.0, 165.0, 70.0]) + rng.normal(0, 10, size=3)
        elif targets[k] == 1:
            for _ in range(rng.integers(12, 31)):
                r = rng.integers(1, 3)
                y, x = rng.integers(0, size - r, size=2)
                images[k, y:y + r, x:x + r] = np.array([115.0, 60.0, 25.0]) + rng.normal(0, 10, size=3)
    return np.clip(images, 0, 255).astype(np.uint8), targets


def collate_fn(examples):
    pixel_values = torch.stack([example["pixel_values"] for example in examples])
    labels = torch.tensor([example["labels"] for example in examples])
    return {"pixel_values": pixel_values, "labels": labels}


def main():
    seed = _harness.seed_everything()
    set_seed(seed)

    # the image folder: one sub-folder per class, no validation split
    images, targets = beans_like_folder(seed, n=1200)
    labels = LABELS  # the sub-folder names
    train_val_split = 0.15
    order = np.random.default_rng(seed).permutation(len(targets))  # ds["train"].train_test_split(0.15)
    n_val = int(math.ceil(train_val_split * len(targets)))
    ds = {
        "train": ImageFolderSplit(images[order[n_val:]], targets[order[n_val:]]),
        "validation": ImageFolderSplit(images[order[:n_val]], targets[order[:n_val]]),
    }

    label2id, id2label = {}, {}
    for i, label in enumerate(labels):
        label2id[label] = str(i)
        id2label[str(i)] = label

    def compute_metrics(p):
        """Computes accuracy on a batch of predictions"""
        return {"accuracy": float((np.argmax(p.predictions, axis=1) == p.label_ids).mean())}

    config = ViTConfig(
        image_size=IMAGE_SIZE, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=128,
        num_labels=len(labels), label2id=label2id, id2label=id2label, finetuning_task="image-classification",
    )
    model = ViTForImageClassification(config)

    def train_transforms(example_batch):
        example_batch["pixel_values"] = [_train_transforms(img) for img in example_batch["image"]]
        return example_batch

    def val_transforms(example_batch):
        example_batch["pixel_values"] = [_val_transforms(img) for img in example_batch["image"]]
        return example_batch

    ds["train"].set_transform(train_transforms)
    ds["validation"].set_transform(val_transforms)

    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=os.path.join(output_dir, "outputs"),
            remove_unused_columns=False,
            do_train=True,
            do_eval=True,
            learning_rate=2e-5,
            num_train_epochs=5,
            per_device_train_batch_size=8,
            per_device_eval_batch_size=8,
            logging_strategy="steps",
            logging_steps=10,
            eval_strategy="epoch",
            save_strategy="epoch",
            load_best_model_at_end=True,
            save_total_limit=3,
            seed=seed,
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=ds["train"],
            eval_dataset=ds["validation"],
            compute_metrics=compute_metrics,
            data_collator=collate_fn,
            callbacks=_harness.callbacks("huggingface"),
        )
        train_result = trainer.train()
        print("train metrics:", train_result.metrics)
        metrics = trainer.evaluate()
        print("eval metrics:", metrics)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=metrics["eval_accuracy"], metric_name="accuracy", chance=1 / 3, losses=losses)


if __name__ == "__main__":
    main()
