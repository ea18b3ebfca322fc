"""Small data sets and metrics for the zoo cases (numpy and scikit-learn only; no framework, no download).

Every loader returns ``(x_train, x_test, y_train, y_test)`` as numpy arrays: features float32, class labels
int64, regression targets float32. Features are standardized on the training split unless a loader says
otherwise; the split and any noise are fixed by ``seed``.
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _split(x: np.ndarray, y: np.ndarray, seed: int, standardize: bool = True, stratify: bool = True) -> Split:
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y if stratify else None
    )
    if standardize:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return x_train.astype(np.float32), x_test.astype(np.float32), y_train, y_test


def digits(seed: int, images: bool = False, channels_last: bool = False) -> Split:
    """8x8 handwritten digits, 10 classes (1797 samples); pixels scaled to [0, 1].

    ``images=True`` gives (N, 1, 8, 8) arrays (torch), or (N, 8, 8, 1) with ``channels_last`` (Keras).
    """
    bunch = datasets.load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = _split(x, bunch.target.astype(np.int64), seed, standardize=False)
    if images:
        shape = (-1, 8, 8, 1) if channels_last else (-1, 1, 8, 8)
        x_train, x_test = x_train.reshape(shape), x_test.reshape(shape)
    return x_train, x_test, y_train, y_test


def wine(seed: int) -> Split:
    """Wine recipes, 3 classes, 13 standardized features (178 samples)."""
    bunch = datasets.load_wine()
    return _split(bunch.data, bunch.target.astype(np.int64), seed)


def breast_cancer(seed: int, standardize: bool = True) -> Split:
    """Breast-cancer diagnosis, binary, 30 features (569 samples); raw features range up to about 4000."""
    bunch = datasets.load_breast_cancer()
    return _split(bunch.data, bunch.target.astype(np.int64), seed, standardize=standardize)


def moons(seed: int, n: int = 1000, noise: float = 0.15) -> Split:
    """Two interleaving half-moons: binary, not linearly separable."""
    x, y = datasets.make_moons(n_samples=n, noise=noise, random_state=seed)
    return _split(x, y.astype(np.int64), seed)


def circles(seed: int, n: int = 1000) -> Split:
    """Two concentric circles: binary; a linear model stays at chance."""
    x, y = datasets.make_circles(n_samples=n, noise=0.08, factor=0.5, random_state=seed)
    return _split(x, y.astype(np.int64), seed)


def blobs(seed: int, n: int = 1000) -> Split:
    """Two well-separated Gaussian blobs in 10 dimensions: binary, linearly separable."""
    x, y = datasets.make_classification(
        n_samples=n, n_features=10, n_informative=5, n_redundant=0, class_sep=2.5, random_state=seed
    )
    return _split(x, y.astype(np.int64), seed)


def classification(seed: int, n: int = 1500, n_classes: int = 4) -> Split:
    """A synthetic multi-class problem (20 features, 10 informative)."""
    x, y = datasets.make_classification(
        n_samples=n, n_features=20, n_informative=10, n_classes=n_classes, class_sep=1.5, random_state=seed
    )
    return _split(x, y.astype(np.int64), seed)


def multilabel(seed: int, n: int = 2000, n_labels: int = 6) -> Split:
    """Multi-label: 20 count features, ``n_labels`` labels, about 2 labels per sample (multi-hot float32)."""
    x, y = datasets.make_multilabel_classification(
        n_samples=n, n_features=20, n_classes=n_labels, n_labels=2, allow_unlabeled=False, random_state=seed
    )
    return _split(x, y.astype(np.float32), seed, stratify=False)


def friedman(seed: int, n: int = 1200, scale_targets: bool = True) -> Split:
    """Friedman #1 regression (10 features, 5 used, nonlinear); targets standardized (mean 0, std 1), or, with
    ``scale_targets=False``, in their raw units (prices in thousands: mean about 14,000, std about 5,000)."""
    x, y = datasets.make_friedman1(n_samples=n, n_features=10, noise=0.3, random_state=seed)
    x_train, x_test, y_train, y_test = _split(x, y * 1000.0, seed, stratify=False)
    if not scale_targets:
        return x_train, x_test, y_train.astype(np.float32), y_test.astype(np.float32)
    mean, std = y_train.mean(), y_train.std()
    return (
        x_train,
        x_test,
        ((y_train - mean) / std).astype(np.float32),
        ((y_test - mean) / std).astype(np.float32),
    )


def waves(seed: int, n: int = 1200, length: int = 16, n_classes: int = 3) -> Split:
    """Noisy sine sequences, shape (N, length, 1); the class is the frequency, the phase is random.

    No single time step tells the class: a model must read the sequence.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    freq = 0.25 + 0.35 * y  # radians per step: one frequency per class
    phase = rng.uniform(0, 2 * np.pi, size=n)
    t = np.arange(length)
    x = np.sin(freq[:, None] * t[None, :] + phase[:, None]) + 0.2 * rng.normal(size=(n, length))
    return _split(x[..., None].astype(np.float32), y.astype(np.int64), seed, standardize=False)


def running_sum(seed: int, n: int = 1200, length: int = 16) -> Split:
    """Regression on sequences, shape (N, length, 1): the target is the sum of the steps (std about 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, length, 1)) / np.sqrt(length)
    y = x.sum(axis=(1, 2))
    return _split(x.astype(np.float32), y.astype(np.float32), seed, standardize=False, stratify=False)


def is_buggy(variant: str) -> bool:
    """``True`` for "buggy", ``False`` for "fixed" or "healthy"; anything else is a caller error."""
    if variant not in ("buggy", "fixed", "healthy"):
        raise ValueError(f"unknown variant {variant!r}")
    return variant == "buggy"


def require_healthy(variant: str) -> None:
    """Healthy-suite cases have one variant, "healthy"."""
    if variant != "healthy":
        raise ValueError(f"healthy-suite cases have only the 'healthy' variant, not {variant!r}")


# --- metrics -------------------------------------------------------------------------------------------


def accuracy(scores: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> float:
    """Accuracy of class scores: argmax over columns, or ``score > threshold`` for one column."""
    scores = np.asarray(scores)
    if scores.ndim == 2 and scores.shape[1] > 1:
        predicted = scores.argmax(axis=1)
    else:
        predicted = (scores.reshape(-1) > threshold).astype(np.int64)
    return float((predicted == np.asarray(y).reshape(-1)).mean())


def micro_f1(scores: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> float:
    """Micro-averaged F1 of multi-label scores thresholded at ``threshold``."""
    predicted = np.asarray(scores) > threshold
    truth = np.asarray(y) > 0.5
    tp = float((predicted & truth).sum())
    denominator = float(predicted.sum() + truth.sum())
    return 2 * tp / denominator if denominator else 0.0


def r2(predictions: np.ndarray, y: np.ndarray) -> float:
    """Coefficient of determination; non-finite predictions score -inf."""
    predictions, y = np.asarray(predictions, dtype=np.float64).reshape(-1), np.asarray(y).reshape(-1)
    if not np.all(np.isfinite(predictions)):
        return float("-inf")
    return float(1.0 - ((y - predictions) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def chance(y: np.ndarray, task: str) -> float:
    """The metric a model that ignores its input can reach (majority class; all-positive F1; R^2 = 0)."""
    y = np.asarray(y)
    if task == "regression":
        return 0.0
    if task == "multilabel":
        positive = float(y.mean())
        return 2 * positive / (1 + positive)
    return float(np.bincount(y.astype(np.int64)).max() / len(y))


def outcome(
    losses: list[float], metric: float, metric_name: str, chance_level: float, weights_finite: bool = True
) -> dict:
    """The dict a case's ``run`` returns."""
    nan = not (losses and all(np.isfinite(losses))) or not weights_finite
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "loss": float(np.mean(tail)) if losses else float("nan"),  # mean of the last 10% of recorded losses
        "metric": float(metric),
        "metric_name": metric_name,
        "chance": float(chance_level),
        "nan": bool(nan),
    }
