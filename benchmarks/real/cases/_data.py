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
| Cora's ``cora.content`` / ``cora.cites`` | ``cora_like_files`` | str (papers, 1 + 1,433 + 1), int32 (citations, 2) |
"""

from __future__ import annotations

import re
import string
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


# --- keras-io time series and tabular stand-ins (FordA, Jena climate, credit-card fraud) ---


def forda_load_data(seed: int = 0, n_train: int = 1200, n_test: int = 400,
                     length: int = 500) -> tuple[tuple[Any, Any], ...]:
    """Like the UCR FordA TSV files read by ``readucr``: ((x_train, y_train), (x_test, y_test)), float64
    (N, 500) series, each z-normalized, labels -1 / 1 (balanced).

    An engine-noise-like signal: a few low-frequency sinusoids with random phases plus noise; class 1 adds
    bursts of a faster oscillation.
    """
    rng = np.random.default_rng(seed + 7000)
    n = n_train + n_test
    t = np.arange(length)
    labels = rng.choice(np.array([-1, 1]), size=n)
    x = np.zeros((n, length))
    for _ in range(3):
        period = rng.uniform(20, 120, size=(n, 1))
        phase = rng.uniform(0, 2 * np.pi, (n, 1))
        x += rng.uniform(0.3, 1.0, size=(n, 1)) * np.sin(2 * np.pi * t / period + phase)
    x += rng.normal(0, 0.5, size=(n, length))
    period = rng.uniform(5, 8, size=(n, 1))
    fast = np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, (n, 1)))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    envelope = 0.7 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(60, 200, (n, 1)) + phase)
    x += (labels[:, None] == 1) * rng.uniform(0.7, 1.2, (n, 1)) * envelope * fast
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    return (x[:n_train], labels[:n_train]), (x[n_train:], labels[n_train:])


#: the 14 columns of jena_climate_2009_2016.csv after "Date Time"
JENA_CLIMATE_COLUMNS = ("p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)",
                        "VPact (mbar)", "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)",
                        "wv (m/s)", "max. wv (m/s)", "wd (deg)")


def smooth_fields(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """n smooth random fields (size x size) in [0, 1]: a cells x cells grid upsampled bilinearly (textures
    and backgrounds of the stand-in photos)."""
    grid = rng.uniform(0, 1, size=(n, cells + 1, cells + 1))
    t = np.linspace(0, cells, size)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    top = grid[:, i][:, :, i] * (1 - f) + grid[:, i][:, :, i + 1] * f
    bottom = grid[:, i + 1][:, :, i] * (1 - f) + grid[:, i + 1][:, :, i + 1] * f
    return top * (1 - f)[:, None] + bottom * f[:, None]


def _smooth_noise(rng: np.random.Generator, n: int, tau: float, std: float) -> np.ndarray:
    """An AR(1) process with correlation time ``tau`` steps and stationary standard deviation ``std``."""
    a = np.exp(-1.0 / tau)
    shocks = rng.normal(0.0, std * np.sqrt(1 - a * a), size=n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, std)
    for i in range(1, n):
        out[i] = a * out[i - 1] + shocks[i]
    return out


def jena_climate(seed: int = 0, n_rows: int = 12000) -> np.ndarray:
    """Like the Jena climate CSV (one row every 10 minutes): float64 (n_rows, 14) in the columns and units of
    ``JENA_CLIMATE_COLUMNS`` (the "Date Time" column is left out).

    Temperature follows a daily cycle of varying amplitude plus multi-day weather anomalies on a weak
    seasonal drift (weak so that a few months' train and validation splits see the same climate); pressure, humidity and wind are slow random processes; the vapour, density and dew-point
    columns are computed from them with the usual physical formulas.
    """
    rng = np.random.default_rng(seed + 8000)
    t = np.arange(n_rows)
    day = t / 144.0
    start = rng.uniform(0, 365)
    anomaly = _smooth_noise(rng, n_rows, 576, 2.5)
    daily_amp = 6.0 + 1.5 * np.tanh(_smooth_noise(rng, n_rows, 432, 1.0))
    temp = (9.0 - 2.0 * np.cos(2 * np.pi * (start + day) / 365.25) + anomaly
            - daily_amp * np.cos(2 * np.pi * (day - 0.1)) + rng.normal(0, 0.15, n_rows))
    pressure = 989.0 + _smooth_noise(rng, n_rows, 432, 7.0) - 0.6 * anomaly + rng.normal(0, 0.1, n_rows)
    rh = np.clip(75 + _smooth_noise(rng, n_rows, 144, 10.0) + 8 * np.cos(2 * np.pi * (day - 0.1)), 15, 100)
    vp_max = 6.112 * np.exp(17.62 * temp / (243.12 + temp))
    vp_act = rh / 100 * vp_max
    vp_def = vp_max - vp_act
    sh = 622 * vp_act / (pressure - 0.378 * vp_act)
    h2oc = 1000 * vp_act / pressure
    t_kelvin = temp + 273.15
    t_pot = t_kelvin * (1000 / pressure) ** 0.286
    log_e = np.log(vp_act / 6.112)
    t_dew = 243.12 * log_e / (17.62 - log_e)
    rho = pressure * 100 / (287.05 * t_kelvin) * 1000
    wv = np.abs(2.0 + _smooth_noise(rng, n_rows, 36, 1.5)) + rng.gamma(1.0, 0.3, n_rows)
    max_wv = wv * rng.uniform(1.2, 2.0, n_rows)
    wd = np.mod(200 + _smooth_noise(rng, n_rows, 72, 90.0), 360)
    columns = [pressure, temp, t_pot, t_dew, rh, vp_max, vp_act, vp_def, sh, h2oc, rho, wv, max_wv, wd]
    return np.round(np.stack(columns, axis=1), 2)


def creditcard_fraud(seed: int = 0, n: int = 20000,
                     fraud_rate: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Like Kaggle's creditcard.csv read by the keras-io example: float32 (n, 30) features (Time in seconds,
    V1..V28 PCA-like components of decreasing variance, Amount) and uint8 (n, 1) targets, frauds rare
    (``fraud_rate``; the real file has 0.17%), rows in time order.

    Frauds are shifted along a few components (as V14, V12, V10, V17 and V4 are in the real data) and have
    a different amount distribution.
    """
    rng = np.random.default_rng(seed + 9000)
    fraud = rng.random(n) < fraud_rate
    scales = np.linspace(2.0, 0.3, 28)
    v = rng.normal(0.0, 1.0, size=(n, 28)) * scales
    shift = np.zeros(28)
    shift[[13, 11, 9, 16, 3, 2, 6]] = [-4.0, -3.5, -3.0, -3.0, 2.5, -2.0, -2.0]
    v[fraud] += shift * rng.uniform(0.6, 1.2, size=(int(fraud.sum()), 1))
    v[fraud] += rng.normal(0.0, 1.0, size=(int(fraud.sum()), 28)) * scales * 0.6
    time = np.sort(rng.uniform(0, 172792, n))
    amount = np.where(fraud, rng.exponential(120, n), rng.lognormal(3.0, 1.4, n))
    features = np.column_stack([time, v, np.clip(amount, 0, 25691)]).astype("float32")
    return features, fraud.astype("uint8").reshape(-1, 1)


# --- executables as raw bytes (MalConv-style malware detection) ---


def executables(seed: int = 0, n: int = 800, min_len: int = 1500,
                max_len: int = 4000) -> tuple[list[bytes], np.ndarray]:
    """Like the binaries a malware detector reads raw (MalConv): a list of ``n`` byte strings of
    ``min_len``..``max_len`` bytes and labels 0 (benign) / 1 (malware), balanced.

    Every file starts with an "MZ" header and is a run of sections: machine code (a skewed opcode-like byte
    distribution), zero padding and ASCII strings. Malware usually (95%) also carries one to three packed,
    high-entropy sections (uniform bytes), benign files only sometimes (10%, compressed resources), so a
    model that finds such a window beats chance by far but cannot be perfect.
    """
    rng = np.random.default_rng(seed + 10000)
    opcodes = rng.choice(256, size=48, replace=False)
    op_p = 1.0 / np.arange(1, 49)
    op_p /= op_p.sum()
    labels = rng.integers(0, 2, size=n)
    files = []
    for label in labels:
        size = int(rng.integers(min_len, max_len + 1))
        parts = [b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"]
        packed = int(rng.integers(1, 4)) if rng.random() < (0.95 if label else 0.1) else 0
        kinds = ["code", "zeros", "text"] * 3 + ["packed"] * packed
        rng.shuffle(kinds)
        for kind in kinds:
            length = int(rng.integers(150, 700) * size / 2750)
            if kind == "code":
                parts.append(rng.choice(opcodes, size=length, p=op_p).astype(np.uint8).tobytes())
            elif kind == "zeros":
                parts.append(bytes(length // 3))
            elif kind == "text":
                parts.append(rng.integers(32, 127, size=length // 2).astype(np.uint8).tobytes())
            else:
                parts.append(rng.integers(0, 256, size=length + size // 10).astype(np.uint8).tobytes())
        data = b"".join(parts)
        files.append(data[:size] if len(data) >= size else data + bytes(size - len(data)))
    return files, labels.astype(np.int64)


# --- California housing (scikit-learn's fetch_california_housing downloads it) ---


def california_housing(seed: int = 0, n: int = 20640) -> tuple[np.ndarray, np.ndarray]:
    """Like ``sklearn.datasets.fetch_california_housing()`` (data, target): float64 (n, 8) raw features in the
    original columns and units (MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude,
    Longitude) and median house values in 100,000 $ (0.15 .. 5.00001, capped as in the real data).

    Blocks cluster around two coastal centres; the value rises with income and falls with the distance to the
    coast (a non-linear term) and with crowding, plus noise.
    """
    rng = np.random.default_rng(seed + 11000)
    med_inc = np.clip(rng.lognormal(np.log(3.5), 0.45, n), 0.5, 15.0)
    house_age = np.clip(rng.normal(28.6, 12.6, n).round(), 1, 52)
    ave_rooms = np.clip(rng.lognormal(np.log(5.2), 0.25, n) + 0.35 * (med_inc - 3.5), 0.85, None)
    tail = rng.random(n) < 0.005
    ave_rooms[tail] *= rng.uniform(3, 20, int(tail.sum()))
    ave_bedrms = np.clip(ave_rooms * rng.normal(0.2, 0.02, n), 0.33, None)
    population = np.clip(rng.lognormal(np.log(1160), 0.7, n), 3, 35682).round()
    ave_occup = np.clip(rng.lognormal(np.log(2.9), 0.25, n), 0.69, None)
    tail = rng.random(n) < 0.003
    ave_occup[tail] *= rng.uniform(3, 100, int(tail.sum()))
    south = rng.random(n) < 0.6
    lat = np.clip(np.where(south, rng.normal(34.1, 0.7, n), rng.normal(37.9, 0.9, n)), 32.54, 41.95)
    coast_lon = -118.6 - (lat - 34.0) * 1.15
    dist = rng.gamma(1.5, 1.0, n)
    lon = np.clip(coast_lon + dist, -124.35, -114.31)
    value = (0.45 * med_inc + 1.6 * np.exp(-(lon - coast_lon) / 0.8) + 0.008 * house_age
             - 0.35 * np.log(ave_occup) + 0.05 * np.minimum(ave_rooms, 10) - 0.00002 * population
             + 0.4 * (lat < 35) * (dist < 1.5) + rng.normal(0, 0.5, n))
    x = np.stack([med_inc, house_age, ave_rooms, ave_bedrms, population, ave_occup, lat, lon], axis=1)
    return x, np.clip(value, 0.15, 5.00001)


# --- a tab-separated English-French sentence file (d2l's fra-eng / the Tatoeba pairs of manythings.org) ---

_ONSETS = ["", "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p", "ph",
           "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "x", "y", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "y", "ai", "ea", "ie", "ou", "ee", "ay"]
_CODAS = ["", "n", "l", "r", "s", "m", "x", "th", "nd", "rk", "ck", "z", "nn", "ll"]
_ENDINGS = ["", "a", "ah", "elle", "ie", "lyn", "son", "ia", "o", "ey", "en", "iel", "ette", "us", "ian"]


def names_txt(seed: int = 0, count: int = 32033) -> list[str]:
    """makemore's names.txt: ``count`` distinct name-like words of 2..15 letters, from syllables drawn with
    fixed, skewed preferences (its own generator: the global random state is left alone)."""
    rng = np.random.default_rng(seed + 12000)

    def zipf(n):  # a fixed, skewed preference over each list, as real names favour some sounds
        w = 1.0 / np.arange(1, n + 1) ** 0.8
        return rng.permutation(w / w.sum())

    weights = [zipf(len(part)) for part in (_ONSETS, _VOWELS, _CODAS, _ENDINGS)]
    out, seen = [], set()
    while len(out) < count:
        batch = 4 * count  # candidates drawn at once: up to 3 syllables, then an ending
        syllables = rng.choice([1, 2, 3], size=batch, p=[0.45, 0.45, 0.1])
        parts = [rng.choice(len(part), size=(batch, 3), p=w) for part, w in zip(
            (_ONSETS, _VOWELS, _CODAS), weights[:3], strict=True)]
        endings = rng.choice(len(_ENDINGS), size=batch, p=weights[3])
        for k in range(batch):
            word = "".join(_ONSETS[parts[0][k, j]] + _VOWELS[parts[1][k, j]] + _CODAS[parts[2][k, j]]
                           for j in range(syllables[k])) + _ENDINGS[endings[k]]
            if 2 <= len(word) <= 15 and word not in seen:
                seen.add(word)
                out.append(word)
                if len(out) == count:
                    break
    return out


_FRA_SUBJECTS = [("I", "Je"), ("You", "Tu"), ("He", "Il"), ("She", "Elle"), ("We", "Nous"), ("They", "Ils")]
_FRA_VERBS = {  # English verb: French forms for je, tu, il, elle, nous, ils
    "see": "vois vois voit voit voyons voient", "like": "aime aimes aime aime aimons aiment",
    "want": "veux veux veut veut voulons veulent", "eat": "mange manges mange mange mangeons mangent",
    "take": "prends prends prend prend prenons prennent", "find": "trouve trouves trouve trouve trouvons trouvent"}
_FRA_INTRANSITIVE = {"run": "cours cours court court courons courent", "sleep": "dors dors dort dort dormons dorment"}
_FRA_NOUNS = [("cat", "chat", "m"), ("dog", "chien", "m"), ("book", "livre", "m"), ("bread", "pain", "m"),
              ("apple", "pomme", "f"), ("car", "voiture", "f"), ("house", "maison", "f"), ("key", "clé", "f")]
_FRA_ADJECTIVES = [("big", "grand", "grande"), ("small", "petit", "petite"), ("red", "rouge", "rouge"),
                   ("new", "nouveau", "nouvelle"), ("old", "vieux", "vieille")]


def fra_eng_text(seed: int = 0, n: int = 1000) -> str:
    """Like d2l's ``read_data_nmt()`` (the fra-eng ``fra.txt``): ``n`` distinct lines "English.\\tFrench." of
    short sentences, capitalised, punctuation attached to the last word, in random order.

    A small grammar: subject + verb (+ "the"/"a" + optional adjective + noun) + "." or "!"; the French side
    conjugates the verb for its subject, chooses the article by the noun's gender and puts the adjective
    after the noun (agreeing in gender), so a translation needs the whole source sentence.
    """
    rng = np.random.default_rng(seed + 12000)
    lines: dict[str, None] = {}
    while len(lines) < n:
        s = int(rng.integers(len(_FRA_SUBJECTS)))
        eng_s, fra_s = _FRA_SUBJECTS[s]
        kind = rng.random()
        verbs = _FRA_INTRANSITIVE if kind < 0.1 else _FRA_VERBS
        verb = list(verbs)[int(rng.integers(len(verbs)))]
        eng_v = verb + ("s" if s in (2, 3) else "")
        fra_v = verbs[verb].split()[s]
        eng, fra = [eng_s, eng_v], [fra_s, fra_v]
        if kind >= 0.1:
            noun_en, noun_fr, gender = _FRA_NOUNS[int(rng.integers(len(_FRA_NOUNS)))]
            definite = rng.random() < 0.6
            eng.append("the" if definite else ("an" if noun_en[0] in "aeiou" else "a"))
            fra.append(("le" if gender == "m" else "la") if definite else ("un" if gender == "m" else "une"))
            if kind >= 0.5:
                adj_en, adj_m, adj_f = _FRA_ADJECTIVES[int(rng.integers(len(_FRA_ADJECTIVES)))]
                if eng[-1] in ("a", "an"):
                    eng[-1] = "an" if adj_en[0] in "aeiou" else "a"
                eng += [adj_en, noun_en]
                fra += [noun_fr, adj_m if gender == "m" else adj_f]
            else:
                eng.append(noun_en)
                fra.append(noun_fr)
        mark = "!" if rng.random() < 0.15 else "."
        lines[" ".join(eng) + mark + "\t" + " ".join(fra) + " " + mark] = None
    return "\n".join(lines) + "\n"


# --- Jeff Heaton's course CSVs (data.heatonresearch.com): auto-mpg.csv and jh-simple-dataset.csv ---


class T5WordTokenizer:
    """Stand-in for the T5 tokenizer of the T5 programs: one id per lowercase word or punctuation mark of the
    sentences it is built from, pad 0, eos 1 (appended to every sentence), unk 2. Called on sentences: the
    padded ids and their attention mask (torch tensors)."""

    PAD, EOS, UNK = 0, 1, 2

    def __init__(self, sentences: list[str]) -> None:
        words = sorted({w for s in sentences for w in self.tokenize(s)})
        self.vocab = {w: i + 3 for i, w in enumerate(words)}
        self.pad_token_id = self.PAD

    @staticmethod
    def tokenize(sentence: str) -> list[str]:
        return re.findall(r"[\w']+|[.!?]", sentence.lower())

    def __len__(self) -> int:
        return len(self.vocab) + 3

    def __call__(self, sentences: list[str]) -> tuple[Any, Any]:
        import torch  # only the torch programs call it

        ids = [[self.vocab.get(w, self.UNK) for w in self.tokenize(s)] + [self.EOS] for s in sentences]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([x + [self.PAD] * (width - len(x)) for x in ids])
        return input_ids, (input_ids != self.PAD).long()


def auto_mpg(seed: int = 0, n: int = 398) -> dict[str, np.ndarray]:
    """Like auto-mpg.csv read with pandas, as a dict of columns: mpg (9..46.6), cylinders (3..8), displacement
    (68..455 cu in), horsepower (46..230, six missing as NaN), weight (1613..5140 lb), acceleration (8..24.8 s),
    year (70..82), origin (1 USA, 2 Europe, 3 Japan); the car names are left out.

    Bigger engines go with more horsepower and weight; fuel use per mile grows with weight and horsepower and
    falls with the model year (mpg is its inverse), plus multiplicative noise.
    """
    rng = np.random.default_rng(seed + 13000)
    origin = rng.choice(np.array([1, 2, 3]), size=n, p=[0.625, 0.175, 0.2])
    cylinders = np.where(origin == 1, rng.choice(np.array([4, 6, 8]), size=n, p=[0.35, 0.25, 0.40]),
                         rng.choice(np.array([3, 4, 5, 6]), size=n, p=[0.02, 0.88, 0.03, 0.07]))
    per_cylinder = np.where(cylinders >= 8, rng.uniform(32, 57, n), rng.uniform(22, 40, n))
    displacement = np.round(np.clip(cylinders * per_cylinder, 68, 455))
    horsepower = np.round(np.clip(0.33 * displacement + 30 + rng.normal(0, 12, n), 46, 230))
    weight = np.round(np.clip(1450 + 7.2 * displacement + rng.normal(0, 230, n), 1613, 5140))
    acceleration = np.round(np.clip(21.5 - 0.045 * horsepower + 0.0004 * (weight - 3000)
                                    + rng.normal(0, 1.6, n), 8, 24.8), 1)
    year = rng.integers(70, 83, size=n)
    gallons = (0.9 + 0.00115 * weight + 0.004 * horsepower - 0.08 * (year - 70)) * np.exp(rng.normal(0, 0.07, n))
    mpg = np.round(np.clip(100 / gallons, 9, 46.6), 1)
    horsepower[rng.choice(n, size=6, replace=False)] = np.nan
    return {"mpg": mpg, "cylinders": cylinders, "displacement": displacement, "horsepower": horsepower,
            "weight": weight, "acceleration": acceleration, "year": year, "origin": origin}


_JH_JOBS = ("11", "al", "am", "ax", "bf", "by", "c6", "ck", "d9", "e2", "f8", "fe", "fj", "fv", "fz", "gj", "gy",
            "hv", "jp", "kd", "kl", "ky", "nb", "no", "ob", "ov", "pe", "po", "pq", "pz", "qp", "qw", "rn")


def jh_simple_dataset(seed: int = 0, n: int = 2000) -> dict[str, np.ndarray]:
    """Like jh-simple-dataset.csv read with pandas, as a dict of columns: id, job (33 two-character codes), area
    (a..d), income (59 missing as NaN), aspect, subscriptions, dist_healthy, save_rate, dist_unhealthy, age
    (18..85), pop_dense, retail_dense, crime (0..1.5) and product (a..g).

    Age depends on the job and drives income, save rate, subscriptions and aspect (so a model can predict it
    from them); the product follows save rate and subscriptions; the densities and distances are noise.
    """
    rng = np.random.default_rng(seed + 14000)
    job = rng.choice(np.array(_JH_JOBS), size=n)
    area = rng.choice(np.array(["a", "b", "c", "d"]), size=n, p=[0.1, 0.25, 0.45, 0.2])
    job_age = dict(zip(_JH_JOBS, rng.normal(0, 5, len(_JH_JOBS)), strict=True))
    age = np.clip(np.round(46 + np.array([job_age[j] for j in job]) + rng.normal(0, 8, n)), 18, 85)
    income = np.round(np.clip(25000 + 600 * (age - 18) + rng.normal(0, 4000, n), 8000, None), 2)
    save_rate = np.clip(np.round(20 + 0.5 * (age - 46) + rng.normal(0, 4, n)), 0, 100)
    subscriptions = np.clip(np.round(3.5 - 0.05 * (age - 46) + rng.normal(0, 0.5, n)), 0, 9)
    aspect = np.round(rng.normal(12, 1.5, n) + 0.03 * (age - 46), 6)
    dist_healthy = np.round(rng.gamma(2.0, 4.0, n), 6)
    dist_unhealthy = np.round(rng.gamma(1.5, 1.5, n), 6)
    pop_dense = np.round(rng.uniform(0, 1, n), 6)
    retail_dense = np.round(np.clip(0.6 * pop_dense + rng.normal(0.2, 0.1, n), 0, 1), 6)
    crime = np.round(np.clip(0.5 * pop_dense + rng.normal(0.1, 0.1, n), 0, 1.5), 6)
    taste = 0.8 * (save_rate - 20) / 10 - 0.6 * (subscriptions - 3.5) + rng.normal(0, 1.0, n)
    product = np.array(list("abcdefg"))[np.digitize(taste, [-1.5, -0.8, -0.25, 0.25, 0.8, 1.5])]
    income[rng.choice(n, size=59, replace=False)] = np.nan
    return {"id": np.arange(1, n + 1), "job": job, "area": area, "income": income, "aspect": aspect,
            "subscriptions": subscriptions, "dist_healthy": dist_healthy, "save_rate": save_rate,
            "dist_unhealthy": dist_unhealthy, "age": age, "pop_dense": pop_dense, "retail_dense": retail_dense,
            "crime": crime, "product": product}


class _CartPole:
    """gymnasium's ``CartPole-v1`` (classic control, no rendering): state (x, x_dot, theta, theta_dot) as
    float32, actions 0 (push left) / 1 (push right) with a 10 N force, Euler steps of 0.02 s, the
    cart-pole equations of Barto, Sutton & Anderson (1983); reward 1 every step (the failing one included);
    ``terminated`` once |x| > 2.4 or |theta| > 12 degrees, ``truncated`` at 500 steps (the TimeLimit wrapper);
    ``reset`` draws every state variable uniformly from [-0.05, 0.05]."""

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold, x_threshold, max_episode_steps = 12 * 2 * np.pi / 360, 2.4, 500

    class spec:  # noqa: N801  (gymnasium's env.spec.reward_threshold)
        id, reward_threshold, max_episode_steps = "CartPole-v1", 475.0, 500

    def __init__(self) -> None:
        self.rng = np.random.default_rng()
        self.state = np.zeros(4)
        self.steps = 0

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-0.05, 0.05, size=4)
        self.steps = 0
        return self.state.astype(np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if int(action) == 1 else -self.force_mag
        total_mass = self.masscart + self.masspole
        polemass_length = self.masspole * self.length
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / total_mass))
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * x_acc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc
        self.state = np.array([x, x_dot, theta, theta_dot])
        self.steps += 1
        terminated = bool(abs(x) > self.x_threshold or abs(theta) > self.theta_threshold)
        truncated = self.steps >= self.max_episode_steps
        return self.state.astype(np.float32), 1.0, terminated, truncated, {}


def gym_make_cartpole() -> _CartPole:
    """A stand-in for ``gymnasium.make("CartPole-v1")`` (gym is not installed): see ``_CartPole``."""
    return _CartPole()


def cartpole_random_policy_length(seed: int, episodes: int = 100) -> float:
    """The chance level of a CartPole program: the mean episode length of uniformly random actions."""
    rng = np.random.default_rng(seed + 1000)
    env = gym_make_cartpole()
    env.reset(seed=seed + 1000)
    total = 0.0
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
            total += reward
            done = terminated or truncated
    return total / episodes


def stsb_word_id_pairs(seed: int = 0, n: int = 2000, vocab_size: int = 1000,
                       first_word: int = 3) -> dict[str, list[Any]]:
    """A stand-in for GLUE STS-B (sentence pairs scored 0..5) as word-id sentences for a tokenizer stand-in:
    the pair draws a share of its words from 100 "related" cue words (ids first_word..first_word+99) and the
    rest from the other words; the score is 5 x the pair's share of cue words plus N(0, 0.25), clipped to
    0..5 (learnable from scratch by a tiny BERT, unlike real paraphrase similarity)."""
    rng = np.random.default_rng(seed + 8000)
    out: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "label": []}
    for _ in range(n):
        share = float(rng.random())
        pair, cues = [], 0
        for _ in range(2):
            length = int(rng.integers(6, 16))
            cue = rng.random(length) < share
            words = np.where(cue, rng.integers(first_word, first_word + 100, size=length),
                             rng.integers(first_word + 100, vocab_size, size=length))
            pair.append(words.tolist())
            cues += int(cue.sum())
        frac = cues / (len(pair[0]) + len(pair[1]))
        out["sentence1"].append(pair[0])
        out["sentence2"].append(pair[1])
        out["label"].append(float(np.clip(5.0 * frac + rng.normal(0.0, 0.25), 0.0, 5.0)))
    return out


LANGUAGES = ["Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish", "Italian",
             "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese"]
_NAME_VOWELS = "aeiouy"


def names_by_language(seed: int, n_per_language: int = 400) -> dict[str, list[str]]:
    """The char-RNN tutorials' data/names/*.txt, one list per language of ``LANGUAGES``: for every language a
    first-order Markov chain over lowercase letters (its own letter preferences, vowel/consonant alternation
    and a few favourite bigrams), a length range and three typical endings; each name is a chain walk, half of
    them ending in one of the language's endings, capitalized. Neighbouring languages share nothing by
    construction but their chains overlap enough that short names are ambiguous."""
    rng = np.random.default_rng(seed + 7919)
    letters = string.ascii_lowercase
    is_vowel = np.array([c in _NAME_VOWELS for c in letters])
    category_lines = {}
    for lang in LANGUAGES:
        pref = rng.dirichlet(np.full(26, 0.6))
        trans = np.empty((26, 26))
        for a in range(26):
            row = pref * np.where(is_vowel != is_vowel[a], 2.5, 1.0)
            row = row + 0.4 * rng.dirichlet(np.full(26, 0.15))
            trans[a] = row / row.sum()
        start = pref / pref.sum()
        lo = int(rng.integers(3, 6))
        hi = lo + int(rng.integers(3, 6))
        endings = ["".join(rng.choice(list(letters), size=int(rng.integers(1, 4)), p=start)) for _ in range(3)]
        names = set()
        while len(names) < n_per_language:
            length = int(rng.integers(lo, hi + 1))
            idx = [int(rng.choice(26, p=start))]
            while len(idx) < length:
                idx.append(int(rng.choice(26, p=trans[idx[-1]])))
            name = "".join(letters[i] for i in idx)
            if rng.random() < 0.5:
                name += endings[int(rng.integers(3))]
            names.add(name.capitalize())
        category_lines[lang] = sorted(names)
    return category_lines


CORA_CLASSES = ("Case_Based", "Genetic_Algorithms", "Neural_Networks", "Probabilistic_Methods",
                "Reinforcement_Learning", "Rule_Learning", "Theory")
CORA_CLASS_SIZES = (298, 418, 818, 426, 217, 180, 351)  # 2,708 papers in all


def cora_like_files(seed=0, class_sizes=CORA_CLASS_SIZES, n_words=1433, n_cites=5429, topic_words=60,
                    words_per_paper=18.0, topic_share=0.2, same_class_cite=0.8):
    """The contents of `cora.content` and `cora.cites` as the example's `np.genfromtxt` returns them: a str
    array (papers, 1 + n_words + 1) and an int32 array (n_cites, 2) of (cited, citing) paper ids."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CORA_CLASSES)), class_sizes)
    rng.shuffle(labels)
    n = len(labels)
    paper_ids = rng.choice(np.arange(30, 1_200_000), size=n, replace=False)

    # words: each class owns `topic_words` words; the rest are common words with Zipf-like frequencies
    vocab = rng.permutation(n_words)
    topics = vocab[:topic_words * len(CORA_CLASSES)].reshape(len(CORA_CLASSES), topic_words)
    common = vocab[topic_words * len(CORA_CLASSES):]
    common_p = 1.0 / np.arange(1, len(common) + 1) ** 0.8
    common_p /= common_p.sum()
    words = np.zeros((n, n_words), dtype=np.int32)
    for i, c in enumerate(labels):
        k = max(3, rng.poisson(words_per_paper))
        k_topic = rng.binomial(k, topic_share)
        words[i, rng.choice(topics[c], size=min(k_topic, topic_words), replace=False)] = 1
        words[i, rng.choice(common, size=k - k_topic, replace=False, p=common_p)] = 1

    # citations: popular papers are cited often (heavy tail); most citations stay within the class
    popularity = rng.pareto(1.5, size=n) + 1.0
    pools = [np.flatnonzero(labels == c) for c in range(len(CORA_CLASSES))] + [np.arange(n)]
    cdfs = [np.cumsum(popularity[pool]) / popularity[pool].sum() for pool in pools]
    cites = set()
    while len(cites) < n_cites:
        citing = int(rng.integers(n))
        k = labels[citing] if rng.random() < same_class_cite else -1
        cited = int(pools[k][min(np.searchsorted(cdfs[k], rng.random()), len(pools[k]) - 1)])
        if cited != citing:
            cites.add((cited, citing))
    cites = np.array(sorted(cites), dtype=np.int64)

    content = np.empty((n, n_words + 2), dtype="<U22")
    content[:, 0] = paper_ids.astype(str)
    content[:, 1:-1] = np.where(words == 1, "1", "0")
    content[:, -1] = np.array(CORA_CLASSES)[labels]
    return content, paper_ids[cites].astype(np.int32)
