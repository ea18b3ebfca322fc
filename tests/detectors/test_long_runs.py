"""Every detector on healthy runs of 20,000 steps: warm-up and cosine decay, a plateau, late fine noise,
a gradient norm that rises from a tiny level while the loss is already low. None may report anything."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import layer, model, vec

from deeplocalize.config import Config
from deeplocalize.monitor import Monitor
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

STEPS = 20_000
STATS_EVERY = 20


def _lr(step: int, peak: float = 3e-3, warmup: int = 500) -> float:
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / (STEPS - warmup)
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * progress))


def _loss(step: int, rng: np.random.Generator, plateau: tuple[int, int]) -> float:
    """ln(10) falling to ~0.015: fast at first, a plateau, then slow; noise shrinking with the loss."""
    level = 0.015 + (math.log(10) - 0.015) * math.exp(-step / 1500)
    start, end = plateau
    if start <= step < end:
        level = 0.015 + (math.log(10) - 0.015) * math.exp(-start / 1500)
    elif step >= end:
        level = 0.015 + (math.log(10) - 0.015) * math.exp(-(step - (end - start)) / 1500)
    return float(level * math.exp(rng.normal(0, 0.08)))


def _stats(step: int, rng: np.random.Generator) -> dict:
    """Per-layer statistics of a healthy 3-layer MLP; from step 6,000 the gradient norms rise from a tiny
    level (0.01 -> 0.2, an escape from a flat region) while the loss is already low."""
    rise = 1.0 if step < 6000 else 1.0 + 19.0 * min(1.0, (step - 6000) / 2000)
    stats = {}
    for index, numel in ((0, 2080), (2, 1056), (4, 330)):
        g = 0.01 * rise * rng.uniform(0.7, 1.3)
        w = 5.0 + step * 1e-5
        stats[(index, Channel.WEIGHT_GRAD)] = vec(numel, norm=g, std=g / math.sqrt(numel), mean=0.0,
                                                  min=-3 * g / math.sqrt(numel), max=3 * g / math.sqrt(numel))
        stats[(index, Channel.WEIGHTS)] = vec(numel, norm=w, std=w / math.sqrt(numel), mean=0.0,
                                              min=-0.5, max=0.5)
        stats[(index, Channel.UPDATE)] = vec(numel, norm=w * 1e-3, std=1e-3 * w / math.sqrt(numel))
        out = rng.uniform(0.8, 1.2)
        stats[(index, Channel.OUTPUT)] = vec(64 * 32, mean=0.3 * out, std=out, min=-4 * out, max=4 * out)
    return stats


@pytest.mark.parametrize("plateau", [(3000, 5000), (12000, 15000)])
def test_twenty_thousand_healthy_steps_give_no_finding(plateau: tuple[int, int]) -> None:
    info = model([layer(0, "fc1", "Linear", "linear", 32, 2080), layer(1, "act1", "ReLU", "relu"),
                  layer(2, "fc2", "Linear", "linear", 32, 1056), layer(3, "act2", "ReLU", "relu"),
                  layer(4, "fc3", "Linear", "linear", 10, 330)], optimizer="adamw", lr=3e-3)
    info.batch_size = 64
    monitor = Monitor("torch", Config(), on_fault="continue")
    monitor.set_model(info)
    rng = np.random.default_rng(0)
    for step in range(1, STEPS + 1):
        stats = _stats(step, rng) if step % STATS_EVERY == 1 else {}
        monitor.record(StepRecord(step=step, epoch=step // 500, loss=_loss(step, rng, plateau), lr=_lr(step),
                                  stats=stats))
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.findings == [], [f.message for f in diagnosis.findings]
    assert diagnosis.verdict == "healthy"
