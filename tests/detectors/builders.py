"""Hand-built traces for detector tests (no framework).

Two ways to build one:
- by hand: ``vec(...)`` a summary vector with chosen statistics, ``layer(...)`` / ``model(...)`` model facts,
  ``trace_of(records)``;
- by simulation: ``simulate_mlp(...)`` trains a small numpy MLP laid out like a torch model (``fc0``,
  ``act0``, ``fc1``, ... , ``out`` [, ``head``]) with SGD and records every channel the probes record, with
  switches to inject real faults (learning rate, initialization, missing zero_grad, layers left out of the
  optimizer, a layer dividing by zero, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.diagnosis import Finding
from deeplocalize.model import LayerInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Channel


# ---------------------------------------------------------------------- by hand
def vec(numel: float = 100, nonfinite: float = 0, **stats: float) -> np.ndarray:
    """A summary vector: the given statistics, NaN (not measured) for the others."""
    out = sm.empty()
    out[sm.NUMEL], out[sm.NONFINITE] = numel, nonfinite
    for name, value in stats.items():
        out[sm.IDX[name]] = value
    return out


def summ(
    values: Any, unit_axis: int | None = None, saturation: tuple[float, float] | None = None
) -> np.ndarray:
    return sm.summarize(np.asarray(values, dtype=np.float64), unit_axis=unit_axis, saturation=saturation)


def layer(
    index: int,
    name: str,
    type: str,
    activation: str | None = None,
    units: int | None = None,
    params: int = 0,
    trainable: int | None = None,
    **extra: Any,
) -> LayerInfo:
    return LayerInfo(
        index=index,
        name=name,
        type=type,
        activation=activation,
        units=units,
        params=params,
        trainable_params=params if trainable is None else trainable,
        **extra,
    )


def model(
    layers: Iterable[LayerInfo], loss: str = "cross_entropy", optimizer: str = "sgd", lr: float | None = 0.01
) -> ModelInfo:
    return ModelInfo(
        framework="torch",
        layers=list(layers),
        loss=LossInfo(loss, expects="logits"),
        optimizer=OptimizerInfo(optimizer, lr=lr),
    )


def trace_of(records: Iterable[StepRecord], window: int = 512) -> Trace:
    trace = Trace(window=window)
    for record in records:
        trace.append(record)
    return trace


def run_steps(
    detector: Any, records: list[StepRecord], info: ModelInfo, config: Config | None = None, window: int = 512
) -> list[Finding]:
    """Feed records one by one, calling a "step" detector after each (as the Monitor does)."""
    config = config or Config()
    trace = Trace(window=window)
    found: list[Finding] = []
    for record in records:
        trace.append(record)
        found += detector(trace, info, config)
    return found


# ---------------------------------------------------------------------- by simulation
_ACTS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}


@dataclass
class Sim:
    """The result of ``simulate_mlp``: the trace, the model facts, and the records."""

    trace: Trace
    model: ModelInfo
    records: list[StepRecord] = field(default_factory=list)
    final_loss: float = float("nan")


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
    return np.tanh(z)


def _dact(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return (z > 0).astype(float)
    if name == "sigmoid":
        return a * (1.0 - a)
    return 1.0 - a**2


def simulate_mlp(
    widths: tuple[int, ...] = (8, 32, 32, 4),
    acts: str | tuple[str, ...] = "relu",
    *,
    steps: int = 60,
    lr: float | list[float] = 0.1,
    batch: int = 32,
    seed: int = 0,
    head: str = "logits",  # "logits" (CE on logits), "softmax" (a Softmax module), "sigmoid" (BCE), "mse"
    weight_std: float | None = None,  # None: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    weight_const: float | None = None,  # every kernel entry this value (constant / zero init)
    bias_init: float | None = None,  # None: PyTorch's default; else every hidden bias this value
    data_scale: float = 1.0,
    zero_grad: bool = True,
    not_in_optimizer: tuple[str, ...] = (),  # receive gradients, never updated
    frozen: tuple[str, ...] = (),  # requires_grad=False: no gradient, no update, no trainable params
    nan_at: tuple[str, int] | None = None,  # (module name, step): that module divides by zero from that step
    momentum: float = 0.0,
) -> Sim:
    """Train a numpy MLP with SGD and record every channel, as a probe would (stats every step)."""
    rng = np.random.default_rng(seed)
    n_in, n_out = widths[0], widths[-1]
    hidden = widths[1:-1]
    acts = (acts,) * len(hidden) if isinstance(acts, str) else acts
    # Modules in forward order: fc0, act0, fc1, act1, ..., out [, head]
    mods: list[dict[str, Any]] = []
    dims = [n_in, *hidden]
    for k, width in enumerate(hidden):
        mods.append({"kind": "linear", "name": f"fc{k}", "fan_in": dims[k], "units": width})
        mods.append({"kind": "act", "name": f"act{k}", "act": acts[k], "units": width})
    mods.append({"kind": "linear", "name": "out", "fan_in": dims[-1], "units": n_out})
    if head == "softmax":
        mods.append({"kind": "act", "name": "head", "act": "softmax", "units": n_out})
    elif head == "sigmoid":
        mods.append({"kind": "act", "name": "head", "act": "sigmoid", "units": n_out})
    for m in mods:
        if m["kind"] != "linear":
            continue
        bound = 1.0 / np.sqrt(m["fan_in"])
        shape = (m["fan_in"], m["units"])
        if weight_const is not None:
            m["W"] = np.full(shape, weight_const)
        elif weight_std is not None:
            m["W"] = rng.normal(0.0, weight_std, shape)
        else:
            m["W"] = rng.uniform(-bound, bound, shape)
        m["b"] = rng.uniform(-bound, bound, m["units"])
        if bias_init is not None and m["name"] != "out":
            m["b"] = np.full(m["units"], bias_init)
        m["acc"] = [np.zeros_like(m["W"]), np.zeros_like(m["b"])]
        m["vel"] = [np.zeros_like(m["W"]), np.zeros_like(m["b"])]
    infos = []
    for idx, m in enumerate(mods):
        if m["kind"] == "linear":
            p = m["W"].size + m["b"].size
            infos.append(
                LayerInfo(
                    idx,
                    m["name"],
                    "Linear",
                    "linear",
                    m["units"],
                    p,
                    0 if m["name"] in frozen else p,
                    unit_axis=-1,
                )
            )
        else:
            t = "Softmax" if m["act"] == "softmax" else _ACTS[m["act"]]
            infos.append(
                LayerInfo(
                    idx,
                    m["name"],
                    t,
                    m["act"],
                    m["units"],
                    unit_axis=-1,
                    softmax_axis_size=n_out if m["act"] == "softmax" else None,
                )
            )
    loss_name = {"logits": "cross_entropy", "softmax": "nll", "sigmoid": "bce", "mse": "mse"}[head]
    info = ModelInfo(
        framework="torch",
        layers=infos,
        loss=LossInfo(loss_name),
        optimizer=OptimizerInfo("sgd", lr=lr if isinstance(lr, float) else lr[0], momentum=momentum),
        batch_size=batch,
    )
    centers = rng.normal(0.0, 2.0, (max(n_out, 2), n_in))
    trace, records, loss = Trace(window=max(steps, 2)), [], float("nan")
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            step_lr = lr if isinstance(lr, float) else lr[min(step - 1, len(lr) - 1)]
            y = rng.integers(0, max(n_out, 2), batch)
            x = (centers[y] + rng.normal(0.0, 1.0, (batch, n_in))) * data_scale
            stats: dict[tuple[int, Channel], np.ndarray] = {}
            h, cache = x, []
            for idx, m in enumerate(mods):
                stats[(idx, Channel.INPUT)] = _input_only(h)
                if m["kind"] == "linear":
                    z = h @ m["W"] + m["b"]
                    cache.append((h, z, z))
                    out = z
                elif m["act"] == "softmax":
                    e = np.exp(h - h.max(axis=1, keepdims=True))
                    out = e / e.sum(axis=1, keepdims=True)
                    cache.append((h, h, out))
                else:
                    out = _act(m["act"], h)
                    cache.append((h, h, out))
                if nan_at is not None and m["name"] == nan_at[0] and step >= nan_at[1]:
                    out = out.copy()
                    out[0, 0] = out[0, 0] / 0.0  # a division by zero
                    cache[-1] = (cache[-1][0], cache[-1][1], out)
                act = m.get("act")
                stats[(idx, Channel.OUTPUT)] = summ(
                    out,
                    unit_axis=-1 if act in ("relu",) else None,
                    saturation=sm.SATURATION_BANDS.get(act) if act in ("sigmoid", "tanh") else None,
                )
                h = out
            # loss and its gradient w.r.t. the last module's output
            if head in ("logits", "softmax"):
                yy = np.eye(n_out)[y % n_out]
                logits = cache[-1][2] if head == "logits" else cache[-1][0]
                shifted = logits - logits.max(axis=1, keepdims=True)
                logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # stable, like torch
                p = np.exp(logp)
                loss = float(-np.mean(np.sum(logp * yy, axis=1)))
                g = (p - yy) / batch if head == "logits" else -yy / (np.where(p > 0, p, np.nan) * batch)
                acc = float(np.mean(p.argmax(axis=1) == y % n_out))
            elif head == "sigmoid":
                t = (y % 2).reshape(-1, 1).astype(float)
                pr = np.clip(h, 1e-12, 1 - 1e-12)
                loss = float(-np.mean(t * np.log(pr) + (1 - t) * np.log(1 - pr)))
                g = (pr - t) / (pr * (1 - pr)) / batch
                acc = float(np.mean((h > 0.5) == (t > 0.5)))
            else:
                t = centers[y, :n_out]
                loss = float(np.mean((h - t) ** 2))
                g = 2.0 * (h - t) / h.size
                acc = float("nan")
            for idx in range(len(mods) - 1, -1, -1):
                m, (inp, z, out) = mods[idx], cache[idx]
                stats[(idx, Channel.OUTPUT_GRAD)] = summ(g)
                if m["kind"] == "linear":
                    dw, db = inp.T @ g, g.sum(axis=0)
                    g = g @ m["W"].T
                    if m["name"] in frozen:
                        continue
                    if zero_grad:
                        m["acc"] = [dw, db]
                    else:
                        m["acc"] = [m["acc"][0] + dw, m["acc"][1] + db]
                    stats[(idx, Channel.WEIGHT_GRAD)] = sm.combine([summ(m["acc"][0]), summ(m["acc"][1])])
                elif m["act"] == "softmax" and head == "softmax":
                    g = out * (g - np.sum(g * out, axis=1, keepdims=True))
                else:
                    g = g * _dact(m["act"], z, out)
            for idx, m in enumerate(mods):
                if m["kind"] != "linear":
                    continue
                before = (m["W"].copy(), m["b"].copy())
                if m["name"] not in frozen and m["name"] not in not_in_optimizer:
                    for j in (0, 1):
                        m["vel"][j] = momentum * m["vel"][j] + m["acc"][j]
                    m["W"] = m["W"] - step_lr * m["vel"][0]
                    m["b"] = m["b"] - step_lr * m["vel"][1]
                stats[(idx, Channel.WEIGHTS)] = sm.combine([summ(m["W"]), summ(m["b"])])
                if m["name"] not in frozen:
                    stats[(idx, Channel.UPDATE)] = sm.combine(
                        [summ(m["W"] - before[0]), summ(m["b"] - before[1])]
                    )
            record = StepRecord(
                step=step,
                loss=loss,
                lr=step_lr,
                stats=stats,
                data=summ(x),
                target=summ(y),
                metrics={} if np.isnan(acc) else {"accuracy": acc},
            )
            records.append(record)
            trace.append(record)
    return Sim(trace=trace, model=info, records=records, final_loss=loss)


def _input_only(values: np.ndarray) -> np.ndarray:
    """An INPUT summary as probes record it: numel and the non-finite count only."""
    full = summ(values)
    out = sm.empty()
    out[sm.NUMEL], out[sm.NONFINITE] = full[sm.NUMEL], full[sm.NONFINITE]
    return out


def replay(
    sim: Sim, detectors: Iterable[Any], config: Config | None = None, every: int = 10
) -> list[Finding]:
    """Run detectors over a simulation as the Monitor does ("first" at step 1, "step" each, "check" every)."""
    config = config or Config()
    trace = Trace(window=max(len(sim.records), 2))
    found: list[Finding] = []
    dets = list(detectors)
    for record in sim.records:
        trace.append(record)
        for det in dets:
            cadence = det.cadence
            if (
                (cadence == "first" and record.step == sim.records[0].step)
                or cadence == "step"
                or (cadence == "check" and (record.step % every == 0 or record is sim.records[-1]))
            ):
                found += det.run(trace, sim.model, config)
    return found
