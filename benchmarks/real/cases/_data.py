"""Local stand-ins for the data sets real programs download, with the same shapes, types and value ranges.

This machine cannot download (``keras.datasets``, ``torchvision.datasets`` fail), so a ported program calls
one of these instead. Each is generated from scikit-learn's bundled data or from a fixed rule, is learnable
(a correct model beats chance by far) and is smaller than the original so a program trains in seconds. The
split and any noise depend on ``seed`` only.

| original | stand-in | shape and range |
|---|---|---|
| ``keras.datasets.mnist.load_data()`` | ``mnist_load_data`` | uint8 (N, 28, 28) in 0..255, labels uint8 0..9 |
| ``keras.datasets.fashion_mnist`` | ``fashion_mnist_load_data`` | the same |
| ``keras.datasets.cifar10.load_data()`` | ``cifar10_load_data`` | uint8 (N, 32, 32, 3), labels uint8 (N, 1) |
| ``keras.datasets.imdb.load_data(num_words)`` | ``imdb_load_data`` | object arrays of int lists (1 = start, 2 = OOV), labels 0/1 |
| ``keras.datasets.reuters.load_data(num_words)`` | ``reuters_load_data`` | the same, 46 topics |
| ``keras.datasets.boston_housing.load_data()`` | ``boston_housing_load_data`` | float64 (404 / 102, 13) raw scales, prices 5..50 |
| pima-indians-diabetes.csv | ``pima_diabetes`` | float64 (768, 8) raw scales, labels 0/1 |
| torchvision ``MNIST`` + ``ToTensor`` + ``Normalize`` | ``MNISTLike`` | a torch ``Dataset`` of ((1, 28, 28) float, int) |
| a text file (tiny Shakespeare, WikiText) | ``text_corpus``, ``text_splits`` | str (English prose from Python's own docs) |
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081  # torchvision's MNIST normalization, used by most torch programs


@cache
def _digit_sprites() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits upscaled to 20x20 floats in [0, 1], and their labels."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.stack([zoom(img / 16.0, 2.5, order=1) for img in bunch.images])
    return np.clip(images, 0.0, 1.0), bunch.target.astype(np.int64)


def _place(sprites: np.ndarray, size: int, rng: np.random.Generator, jitter: int = 2) -> np.ndarray:
    """Each sprite on a size x size canvas, centred with a random shift of up to ``jitter`` pixels."""
    n, h, w = sprites.shape
    out = np.zeros((n, size, size), dtype=np.float64)
    top, left = (size - h) // 2, (size - w) // 2
    dy = rng.integers(-jitter, jitter + 1, size=n)
    dx = rng.integers(-jitter, jitter + 1, size=n)
    for i in range(n):
        y, x = top + dy[i], left + dx[i]
        out[i, y:y + h, x:x + w] = sprites[i]
    return out


def _digit_split(seed: int, n_train: int, n_test: int) -> tuple[np.ndarray, ...]:
    """Indices into the sprites for a train and a test set drawn from disjoint source digits."""
    sprites, labels = _digit_sprites()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    cut = int(len(order) * 0.75)
    train_idx = rng.choice(order[:cut], size=n_train, replace=n_train > cut)
    test_idx = rng.choice(order[cut:], size=n_test, replace=n_test > len(order) - cut)
    return sprites[train_idx], labels[train_idx], sprites[test_idx], labels[test_idx]


def mnist_load_data(seed: int = 0, n_train: int = 6000, n_test: int = 1000) -> tuple[tuple[Any, Any], ...]:
    """Like ``keras.datasets.mnist.load_data()``: ((x_train, y_train), (x_test, y_test)), uint8."""
    rng = np.random.default_rng(seed + 1000)
    train, y_train, test, y_test = _digit_split(seed, n_train, n_test)
    out = []
    for sprites, labels in ((train, y_train), (test, y_test)):
        images = _place(sprites, 28, rng) + rng.normal(0.0, 0.03, size=(len(sprites), 28, 28))
        out.append(((np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.uint8)))
    return tuple(out)


def fashion_mnist_load_data(seed: int = 0, n_train: int = 6000,
                            n_test: int = 1000) -> tuple[tuple[Any, Any], ...]:
    """Like ``keras.datasets.fashion_mnist.load_data()`` (the same stand-in with thicker, dimmer strokes)."""
    from scipy.ndimage import grey_dilation

    (x_train, y_train), (x_test, y_test) = mnist_load_data(seed, n_train, n_test)
    thick = [(grey_dilation(x, size=(1, 2, 2)) * 0.8).astype(np.uint8) for x in (x_train, x_test)]
    return (thick[0], y_train), (thick[1], y_test)


def cifar10_load_data(seed: int = 0, n_train: int = 5000, n_test: int = 1000) -> tuple[tuple[Any, Any], ...]:
    """Like ``keras.datasets.cifar10.load_data()``: uint8 (N, 32, 32, 3), labels uint8 (N, 1).

    A class is a digit shape drawn in a random colour on a noisy background of another random colour.
    """
    rng = np.random.default_rng(seed + 2000)
    train, y_train, test, y_test = _digit_split(seed, n_train, n_test)
    out = []
    for sprites, labels in ((train, y_train), (test, y_test)):
        n = len(sprites)
        mask = _place(sprites, 32, rng, jitter=3)[..., None]
        fg = rng.uniform(0.3, 1.0, size=(n, 1, 1, 3))
        bg = rng.uniform(0.0, 0.6, size=(n, 1, 1, 3))
        images = bg + mask * (fg - bg) + rng.normal(0.0, 0.08, size=(n, 32, 32, 3))
        out.append(((np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.uint8)[:, None]))
    return tuple(out)


def _token_documents(seed: int, n: int, num_words: int, n_classes: int, length: tuple[int, int],
                     cue_words: int, cue_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Documents of Zipf-distributed word ids in which each class has its own ``cue_words`` frequent words."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, num_words - 3)
    zipf = 1.0 / ranks
    zipf /= zipf.sum()
    cues = rng.choice(np.arange(20, min(num_words, 2000)), size=(n_classes, cue_words), replace=False)
    labels = rng.integers(0, n_classes, size=n)
    docs = np.empty(n, dtype=object)
    for i in range(n):
        size = int(rng.integers(*length))
        words = rng.choice(ranks, size=size, p=zipf) + 3  # ids 4.. ; 0 pad, 1 start, 2 OOV, 3 unused
        cue = rng.random(size) < cue_rate
        words[cue] = rng.choice(cues[labels[i]], size=int(cue.sum()))
        docs[i] = [1, *(int(w) if w < num_words else 2 for w in words)]
    return docs, labels


def imdb_load_data(num_words: int = 10000, seed: int = 0, n_train: int = 2500,
                   n_test: int = 1000) -> tuple[tuple[Any, Any], ...]:
    """Like ``keras.datasets.imdb.load_data(num_words=...)``: reviews as lists of word ids, labels 0/1."""
    docs, labels = _token_documents(seed + 3000, n_train + n_test, num_words, 2, (40, 240), 25, 0.08)
    return (docs[:n_train], labels[:n_train]), (docs[n_train:], labels[n_train:])


def reuters_load_data(num_words: int = 10000, seed: int = 0, n_train: int = 3000,
                      n_test: int = 800) -> tuple[tuple[Any, Any], ...]:
    """Like ``keras.datasets.reuters.load_data(num_words=...)``: newswires as word ids, 46 topics."""
    docs, labels = _token_documents(seed + 4000, n_train + n_test, num_words, 46, (30, 200), 12, 0.12)
    return (docs[:n_train], labels[:n_train]), (docs[n_train:], labels[n_train:])


#: (low, high) of each Boston-housing feature, in its own units (crime rate, zoning, ..., % lower status)
_BOSTON_RANGES = [(0.006, 89.0), (0.0, 100.0), (0.46, 27.7), (0.0, 1.0), (0.385, 0.871), (3.56, 8.78),
                  (2.9, 100.0), (1.13, 12.1), (1.0, 24.0), (187.0, 711.0), (12.6, 22.0), (0.32, 396.9),
                  (1.73, 37.97)]


def boston_housing_load_data(seed: int = 0) -> tuple[tuple[Any, Any], ...]:
    """Like ``keras.datasets.boston_housing.load_data()``: (404, 13) / (102, 13) raw features, prices
    5..50."""
    rng = np.random.default_rng(seed + 5000)
    n = 506
    u = rng.random((n, 13))
    u[:, 3] = (u[:, 3] < 0.07).astype(float)  # the river dummy
    low, high = np.array(_BOSTON_RANGES).T
    x = low + u * (high - low)
    price = 22 + 9 * (u[:, 5] - 0.5) * 2 - 10 * (u[:, 12] - 0.5) * 2 + 4 * np.sin(3 * u[:, 7]) - 3 * u[:, 10]
    price += 2.5 * (u[:, 0] < 0.1) * u[:, 5] + rng.normal(0, 1.5, n)
    y = np.clip(price, 5.0, 50.0)
    return (x[:404], y[:404]), (x[404:], y[404:])


def pima_diabetes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Like the pima-indians-diabetes CSV: (768, 8) raw features (pregnancies ... age), labels 0/1 (~35%)."""
    rng = np.random.default_rng(seed + 6000)
    n = 768
    preg = rng.poisson(3.8, n)
    glucose = np.clip(rng.normal(121, 32, n), 0, 199)
    pressure = np.clip(rng.normal(69, 19, n), 0, 122)
    skin = np.clip(rng.normal(20, 16, n), 0, 99)
    insulin = np.clip(rng.exponential(80, n), 0, 846)
    bmi = np.clip(rng.normal(32, 7.9, n), 0, 67)
    pedigree = np.clip(rng.gamma(2.0, 0.24, n), 0.078, 2.42)
    age = np.clip(21 + rng.gamma(2.0, 6.0, n), 21, 81)
    x = np.stack([preg, glucose, pressure, skin, insulin, bmi, pedigree, age], axis=1).astype(np.float64)
    z = 0.035 * (glucose - 121) + 0.09 * (bmi - 32) + 0.9 * (pedigree - 0.47) + 0.03 * (age - 33)
    y = (z + rng.normal(0, 0.8, n) > 0.55).astype(np.int64)
    return x, y


def text_corpus() -> str:
    """About 450,000 characters of English prose (Python's own reference topics, shipped with Python)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def text_splits(valid_frac: float = 0.05, test_frac: float = 0.05) -> tuple[str, str, str]:
    """``text_corpus`` cut into (train, valid, test) at paragraph boundaries."""
    text = text_corpus()
    n = len(text)
    a = text.rfind("\n\n", 0, int(n * (1 - valid_frac - test_frac)))
    b = text.rfind("\n\n", 0, int(n * (1 - test_frac)))
    return text[:a], text[a:b], text[b:]


def MNISTLike(train: bool = True, seed: int = 0, n_train: int = 6000, n_test: int = 1000,  # noqa: N802
              normalize: bool = True) -> Any:
    """A torch ``Dataset`` like ``torchvision.datasets.MNIST(..., transform=Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]))``: items are ((1, 28, 28) float32, int)."""
    import torch

    (x_train, y_train), (x_test, y_test) = mnist_load_data(seed, n_train, n_test)
    x, y = (x_train, y_train) if train else (x_test, y_test)
    images = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    if normalize:
        images = (images - _MNIST_MEAN) / _MNIST_STD
    return torch.utils.data.TensorDataset(images, torch.from_numpy(y.astype(np.int64)))
