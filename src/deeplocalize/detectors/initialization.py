"""poor_initialization: pre-flight checks of the initial weights, from the first step's record.

At step 1 the recorded weights are the initial ones moved by one update: the initial scale is bounded by
||w|| +- ||update|| and estimated from the step-1 forward pass (which used the initial weights); a constant
initial kernel shows as std(w) == std(update). Checks, on Linear/Dense and convolution
layers:
- scale: std outside [low / f, high * f], low = min(PyTorch default 1/sqrt(3 fan_in), Glorot), high = He
  sqrt(2 / fan_in), f = ``init_scale_factor`` (a too small last layer is a known healthy choice: not judged);
  once a layer is above, earlier layers above He * ``init_span_factor`` join it (one model-wide init); when
  the first update dominates the step-1 weights (huge lr), only the forward estimate is judged;
- constant: all-zero or constant kernel of a hidden layer with several units (symmetric units never diverge).
  Probes combine kernel and bias in one summary, so a constant kernel is seen only with a zero or equal bias;
- dead at birth: a ReLU layer with at least ``init_dead_frac`` of its units dead at step 1 (biases/weights);
- variance drift: the second moment of consecutive ReLU outputs changes by more than ``init_var_ratio`` per
  layer on average (SageMaker PoorWeightInitialization, per layer so that default inits never fire).
fan_in is estimated as parameters / units (the bias adds 1).
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import Finding
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

#: Largest kernel area assumed for a convolution when bounding Glorot's fan_out from below (7x7). Own choice.
_MAX_KERNEL_AREA = 49


def is_kernel_layer(layer: LayerInfo) -> bool:
    """A Linear/Dense or convolution layer: the layers whose initial scale these rules judge."""
    t = layer.type.lower()
    return t in ("linear", "dense") or t.startswith("conv")


def default_low(fan_in: float, fan_out: float) -> float:
    """The smallest default initial weight scale for a kernel: PyTorch's 1/sqrt(3 fan_in) or Glorot's."""
    return min(1.0 / math.sqrt(3.0 * fan_in), math.sqrt(2.0 / (fan_in + fan_out)))


def _fan_out_bound(layer: LayerInfo, units: int) -> float:
    return units * (_MAX_KERNEL_AREA if layer.type.lower().startswith("conv") else 1)


def initial_scale(trace: Trace, layer: LayerInfo) -> tuple[float, float] | None:
    """(initial weight scale, ``default_low`` for its fan-in) of a kernel layer, or None when unknown.

    The scale is the kernel's std read before the first update where the probe read it, else the step-1
    weights' upper bound (||w|| + ||update||) / sqrt(n) (kernel and bias together)."""
    init = layer.extra.get("init")
    if isinstance(init, dict) and "kernel_std" in init:
        fan_in, fan_out = max(1.0, float(init["fan_in"])), max(1.0, float(init["fan_out"]))
        return float(init["kernel_std"]), default_low(fan_in, fan_out)
    rec = trace.first
    w = None if rec is None else rec.get(layer.index, Channel.WEIGHTS)
    if w is None or not sm.is_finite(w) or float(w[sm.NUMEL]) <= 0:
        return None
    up = rec.get(layer.index, Channel.UPDATE) if rec is not None else None
    u_norm = float(up[sm.NORM]) if up is not None and np.isfinite(up[sm.NORM]) else 0.0
    _, rms = _initial_rms_bounds(w, u_norm)
    return rms, default_low(_fan_in(layer, w), _fan_out_bound(layer, int(layer.units or 1)))


def _initial_rms_bounds(w: np.ndarray, u_norm: float) -> tuple[float, float]:
    """Bounds on the initial weights' RMS from the step-1 weights ``w`` (a summary) and the norm of the first
    update: ||w_init|| lies within ||w|| +- ||update|| (triangle inequality)."""
    root_n = math.sqrt(max(float(w[sm.NUMEL]), 1.0))
    w_norm = float(w[sm.NORM])
    return max(w_norm - u_norm, 0.0) / root_n, (w_norm + u_norm) / root_n


def _fan_in(layer: LayerInfo, w: np.ndarray) -> float:
    """fan_in estimated as parameters / units (the bias adds 1)."""
    return max(1.0, (layer.params or float(w[sm.NUMEL])) / int(layer.units or 1))


@register("poor_initialization", "first")
def poor_initialization(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Scale, constant kernels, dead-at-birth ReLU layers and activation-variance drift at step 1."""
    rec = trace.first
    if rec is None:
        return []
    found: list[Finding] = []
    last = cm.last_param_index(model, trace)
    for layer in model.layers:
        if is_kernel_layer(layer) and layer.params > 0 and layer.units:
            f = _kernel(trace, model, config, rec, layer, is_last=layer.index == last)
            if f is not None:
                found.append(f)
    above = [f.layer.index for f in found if f.layer is not None and f.evidence.get("word") == "above"]
    if above:  # a model-wide too-large init: earlier layers moderately above He belong to the same fault
        for layer in model.layers:
            if is_kernel_layer(layer) and layer.params > 0 and layer.units and layer.index < min(above):
                f = _kernel(trace, model, config, rec, layer, layer.index == last, config.init_span_factor)
                if f is not None and f.evidence.get("word") == "above":
                    f.evidence["rule"] = "scale_span"
                    found.append(f)
    found += _dead_at_birth(trace, model, config, rec)
    drift = _variance_drift(trace, model, config, rec)
    if drift is not None:
        found.append(drift)
    unique: dict[tuple, Finding] = {}
    for f in found:  # one finding per layer: the kernel's own evidence first
        unique.setdefault(f.key, f)
    _symmetric(model, list(unique.values()))
    return list(unique.values())


def _symmetric(model: ModelInfo, found: list[Finding]) -> None:
    """A constant hidden kernel followed by another constant kernel is a fault: every unit gets the same
    gradient and the symmetry never breaks. Alone (the next layer random) it is a warning: the next
    layer's different weights give its units different gradients (a zero-initialized residual branch)."""
    kernels = [x.index for x in sorted(model.layers, key=lambda x: x.index)
               if is_kernel_layer(x) and x.params > 0]
    constant = {f.layer.index for f in found if f.layer is not None and f.evidence.get("rule") == "constant"}
    for f in found:
        if f.layer is None or f.layer.index not in constant or f.layer.index not in kernels:
            continue
        after = kernels.index(f.layer.index) + 1
        if after < len(kernels) and kernels[after] in constant | _constant_outputs(model, kernels[after]):
            f.severity = Severity.FAULT
            f.evidence["symmetric"] = True


def _constant_outputs(model: ModelInfo, index: int) -> set[int]:
    """{index} when the layer's initial kernel (read before the first update) is constant, else {}."""
    layer = model.layer(index)
    init = layer.extra.get("init") if layer is not None else None
    if isinstance(init, dict) and float(init.get("kernel_std", 1.0)) == 0.0:
        return {index}
    return set()


def _kernel(
    trace: Trace, model: ModelInfo, config: Config, rec: StepRecord, layer: LayerInfo, is_last: bool,
    high_factor: float | None = None,
) -> Finding | None:
    init = layer.extra.get("init")
    if isinstance(init, dict) and "kernel_std" in init:
        return _initial_kernel(trace, model, config, rec, layer, init, is_last, high_factor)
    w, up = rec.get(layer.index, Channel.WEIGHTS), rec.get(layer.index, Channel.UPDATE)
    if w is None or not sm.is_finite(w) or np.isnan(w[sm.STD]):
        return None
    w_norm, u_norm = float(w[sm.NORM]), float(up[sm.NORM]) if up is not None else 0.0
    if not np.isfinite(u_norm):
        return None
    init_lo, init_hi = _initial_rms_bounds(w, u_norm)
    root_n = math.sqrt(max(float(w[sm.NUMEL]), 1.0))
    units = int(layer.units or 1)
    fan_in = _fan_in(layer, w)
    std, mean = float(w[sm.STD]), float(w[sm.MEAN])
    lname = cm.name(model, layer.index)
    ev = {
        "weight_std": std,
        "weight_mean": mean,
        "fan_in": fan_in,
        "units": units,
        "initial_rms_bounds": [init_lo, init_hi],
    }
    # w = w_init + update: with a constant w_init, std(w) equals std(update) exactly; else it exceeds it.
    up_std = float(up[sm.STD]) if up is not None and np.isfinite(up[sm.STD]) else 0.0
    init_std = math.sqrt(max(std**2 - up_std**2, 0.0))
    # The subtraction is only meaningful when the first update is small next to the weights: with a huge
    # learning rate w is mostly update and std(w) ~ std(update) whatever the initial weights were. Then only
    # an exact match (w == update: an all-zero start) still proves a constant start.
    dominated = u_norm > config.init_update_dominates * max(w_norm, 1e-30)
    constant = w_norm == 0 or (
        _same_as_update(w, up) if dominated else init_std <= config.init_constant_rtol * (w_norm / root_n)
    ) or (not dominated and _two_valued(w, up, fan_in))
    if units > 1 and not is_last and constant:
        what = "all zero" if w_norm == 0 else f"constant ({cm.fmt(mean)})"
        fix = (
            f"the weights of layer {lname} start {what}: its {units} units receive identical updates and "
            "stay "
            "symmetric; use a random initialization (He for relu, Glorot for tanh/sigmoid)"
        )
        return cm.finding(
            Symptom.POOR_INITIALIZATION,
            Phase.WEIGHTS,
            model,
            trace,
            layer.index,
            rec.step,
            f"layer {lname} is initialized {what}",
            {**ev, "rule": "constant"},
            [cm.cause(Category.INITIALIZATION, cw.INIT_CONSTANT_KERNEL, fix, model, layer.index)],
            rec.step,
        )
    fan_out = _fan_out_bound(layer, units)
    low = default_low(fan_in, fan_out)
    high = math.sqrt(2.0 / fan_in)
    f = config.init_scale_factor
    fwd = _forward_estimate(model, rec, layer, fan_in)
    if dominated and fwd <= 0:  # the step-1 weights say nothing about the initial scale
        return None
    if fwd > 0:  # forward evidence: a point estimate, tighter than the bounds when the first update was big
        init_lo, init_hi = max(init_lo, fwd), min(init_hi, fwd)
    if init_lo > high * (f if high_factor is None else high_factor):
        std, ratio, ref, word = init_lo, init_lo / high, high, "above the He scale"
        side = "above"
    elif 0 < init_hi < low / f and not is_last:
        std, ratio, ref, word = init_hi, low / init_hi, low, "below the Glorot/default scale"
        side = "below"
    else:
        return None
    fix = (
        f"layer {lname} ({layer.type}, fan_in={fan_in:.0f}) starts with weight scale (RMS) "
        f"{cm.fmt(std)}, {cm.fmt(ratio)}x "
        f"{word} {cm.fmt(ref)}: use the default initialization (He/kaiming for relu, Glorot for tanh/sigmoid)"
    )
    return cm.finding(
        Symptom.POOR_INITIALIZATION,
        Phase.WEIGHTS,
        model,
        trace,
        layer.index,
        rec.step,
        f"layer {lname} starts with weight scale {cm.fmt(std)}, {cm.fmt(ratio)}x {word}",
        {**ev, "rule": "scale", "reference_std": ref, "ratio": ratio, "word": side},
        [cm.cause(Category.INITIALIZATION, cw.INIT_SCALE, fix, model, layer.index)],
        rec.step,
    )


def _initial_kernel(trace: Trace, model: ModelInfo, config: Config, rec: StepRecord, layer: LayerInfo,
                    init: dict, is_last: bool, high_factor: float | None) -> Finding | None:
    """The same rules on the initial kernel itself (the probe read it before the first update): its std,
    mean, and fan-in / fan-out from its shape. Deliberate small schemes (GPT-2's 0.02 / sqrt(2 n_layer)
    residual scaling) stay above the low bound; a zero or constant hidden kernel is reported (a warning
    unless the run then fails: a zero-initialized residual branch is a deliberate choice)."""
    std, mean = float(init["kernel_std"]), float(init["kernel_mean"])
    fan_in, fan_out = max(1.0, float(init["fan_in"])), max(1.0, float(init["fan_out"]))
    units = int(layer.units or 1)
    lname = cm.name(model, layer.index)
    ev = {"weight_std": std, "weight_mean": mean, "fan_in": fan_in, "fan_out": fan_out, "units": units,
          "measured": "initial kernel"}
    if std == 0.0 or std <= config.init_constant_rtol * abs(mean):
        if is_last or units <= 1:
            return None
        what = "all zero" if std == 0 and mean == 0 else f"constant ({cm.fmt(mean)})"
        fix = (f"the weights of layer {lname} start {what}: its {units} units receive identical updates "
               "and stay symmetric; use a random initialization (He for relu, Glorot for tanh/sigmoid)")
        return cm.finding(Symptom.POOR_INITIALIZATION, Phase.WEIGHTS, model, trace, layer.index, rec.step,
                          f"layer {lname} is initialized {what}", {**ev, "rule": "constant"},
                          [cm.cause(Category.INITIALIZATION, cw.INIT_CONSTANT_KERNEL,
                                    fix, model, layer.index)], rec.step)
    low = default_low(fan_in, fan_out)
    high = math.sqrt(2.0 / fan_in)
    f = config.init_scale_factor
    if std > high * (f if high_factor is None else high_factor):
        ratio, ref, word, side = std / high, high, "above the He scale", "above"
    elif std < low / f and not is_last and not _residual_scaled(model, std):
        ratio, ref, word, side = low / std, low, "below the Glorot/default scale", "below"
    else:
        return None
    fix = (f"layer {lname} ({layer.type}, fan_in={fan_in:.0f}) starts with weight std {cm.fmt(std)}, "
           f"{cm.fmt(ratio)}x {word} {cm.fmt(ref)}: use the default initialization (He/kaiming for relu, "
           "Glorot for tanh/sigmoid)")
    return cm.finding(Symptom.POOR_INITIALIZATION, Phase.WEIGHTS, model, trace, layer.index, rec.step,
                      f"layer {lname} starts with weight std {cm.fmt(std)}, {cm.fmt(ratio)}x {word}",
                      {**ev, "rule": "scale", "reference_std": ref, "ratio": ratio, "word": side},
                      [cm.cause(Category.INITIALIZATION, cw.INIT_SCALE, fix, model, layer.index)], rec.step)


#: GPT-2's initialization: N(0, 0.02) for every kernel, residual projections N(0, 0.02 / sqrt(2 n_layer)).
_GPT2_STD = 0.02
_GPT2_MAX_LAYERS = 128


def _residual_scaled(model: ModelInfo, std: float) -> bool:
    """``std`` is GPT-2's residual-projection scale 0.02 / sqrt(2 n) in a model where a third or more of
    the kernels start at N(0, 0.02) (nanoGPT, minGPT, Hugging Face GPT-2): a deliberate scheme, not a
    too-small init."""
    stds = [float(x.extra["init"]["kernel_std"]) for x in model.layers
            if isinstance(x.extra.get("init"), dict) and "kernel_std" in x.extra["init"]]
    at_gpt2 = sum(abs(x - _GPT2_STD) <= 0.1 * _GPT2_STD for x in stds)
    if std <= 0 or not stds or at_gpt2 < len(stds) / 3:  # the residual projections are the other ones
        return False
    n = (_GPT2_STD / std) ** 2 / 2  # the n_layer this std implies
    return 1 <= round(n) <= _GPT2_MAX_LAYERS and abs(n - round(n)) <= 0.15 * max(round(n), 1)


def _same_as_update(w: np.ndarray, up: np.ndarray | None) -> bool:
    """The step-1 weights equal their first update (the initial weights were all zero), to round-off."""
    if up is None:
        return False
    scale = max(float(w[sm.NORM]) / math.sqrt(max(float(w[sm.NUMEL]), 1.0)), 1e-30)
    keys = (sm.MIN, sm.MAX, sm.MEAN, sm.STD)
    return all(abs(float(w[k]) - float(up[k])) <= 1e-5 * scale for k in keys) and (
        abs(float(w[sm.NORM]) - float(up[sm.NORM])) <= 1e-5 * float(w[sm.NORM]))


def _two_valued(w: np.ndarray, up: np.ndarray | None, fan_in: float) -> bool:
    """Kernel and bias each constant (e.g. a constant kernel and zero biases) in one combined summary.

    Probes summarize kernel and bias together: (fan_in - 1) / fan_in of the values are kernel entries. A
    constant kernel c with a constant bias b is a two-point distribution at {c, b} = {min, max}, whose mean
    and std follow from that proportion; the first update may move each value by at most max |update|.
    """
    if fan_in < 2:
        return False
    lo, hi, mean, std = (float(w[k]) for k in (sm.MIN, sm.MAX, sm.MEAN, sm.STD))
    if not all(map(math.isfinite, (lo, hi, mean, std))) or hi - lo <= 0:
        return False
    move = 0.0
    if up is not None and math.isfinite(float(up[sm.MIN])) and math.isfinite(float(up[sm.MAX])):
        move = max(abs(float(up[sm.MIN])), abs(float(up[sm.MAX])))
    tol = 2.0 * move + 1e-4 * (hi - lo)
    if tol >= 0.1 * (hi - lo):
        return False
    p = (fan_in - 1.0) / fan_in  # share of kernel entries
    spread = (hi - lo) * math.sqrt(p * (1.0 - p))
    for kernel, bias in ((hi, lo), (lo, hi)):
        if abs(mean - (p * kernel + (1.0 - p) * bias)) <= tol and abs(std - spread) <= tol:
            return True
    return False


def _forward_estimate(model: ModelInfo, rec: StepRecord, layer: LayerInfo, fan_in: float) -> float:
    """Initial weight RMS from the step-1 forward pass (which used the initial weights), or 0 if unknown.

    For a linear map with random weights, E[out^2] = w_rms^2 * fan_in * E[in^2] (+ bias^2, so this
    over-estimates slightly). Only for layers whose recorded output is the pre-activation.
    """
    if (layer.activation or "linear").lower() not in ("linear", "none"):
        return 0.0
    out = rec.get(layer.index, Channel.OUTPUT)
    prev = rec.get(layer.index - 1, Channel.OUTPUT) if layer.index > 0 else rec.data
    if out is None or prev is None:
        return 0.0
    m2_out = float(out[sm.STD]) ** 2 + float(out[sm.MEAN]) ** 2
    m2_in = float(prev[sm.STD]) ** 2 + float(prev[sm.MEAN]) ** 2
    if not (np.isfinite(m2_out) and np.isfinite(m2_in)) or m2_in <= 0:
        return 0.0
    return math.sqrt(m2_out / (fan_in * m2_in))


def _relu_rows(model: ModelInfo, rec: StepRecord) -> list[tuple[int, np.ndarray]]:
    return [
        (i, rec.get(i, Channel.OUTPUT))
        for i in cm.record_indices(rec, Channel.OUTPUT)
        if cm.activation(model, i) in cm.RELU_FAMILY
    ]


def _dead_at_birth(trace: Trace, model: ModelInfo, config: Config, rec: StepRecord) -> list[Finding]:
    found = []
    for i, vec in _relu_rows(model, rec):
        dead = float(vec[sm.DEAD_FRAC])
        layer = model.layer(i)
        if layer is not None and layer.units and vec[sm.NUMEL] / layer.units < config.min_values_per_unit:
            continue
        if not dead >= config.init_dead_frac:
            continue
        owner = layer if layer is not None and layer.params > 0 else cm.previous_param_layer(model, i)
        oidx = owner.index if owner is not None else i
        fix = (
            f"at step 1, {cm.pct(dead)} of the units of {cm.name(model, i)} are dead: the initial "
            "biases/weights "
            f"of {cm.name(model, oidx)} make every pre-activation <= 0; use zero biases and He initialization"
        )
        found.append(
            cm.finding(
                Symptom.POOR_INITIALIZATION,
                Phase.WEIGHTS,
                model,
                trace,
                oidx,
                rec.step,
                f"{cm.pct(dead)} of the ReLU units of {cm.name(model, i)} are dead from step 1",
                {"dead_frac": dead, "relu_layer": cm.names(model, [i])[0], "rule": "dead_at_birth"},
                [cm.cause(Category.INITIALIZATION, cw.INIT_DEAD_AT_BIRTH, fix, model, oidx)],
                rec.step,
            )
        )
    return found


def _variance_drift(trace: Trace, model: ModelInfo, config: Config, rec: StepRecord) -> Finding | None:
    rows = [(i, float(v[sm.STD]) ** 2 + float(v[sm.MEAN]) ** 2) for i, v in _relu_rows(model, rec)]
    rows = [(i, m2) for i, m2 in rows if np.isfinite(m2) and m2 > 0]
    if len(rows) < 3:
        return None
    per_layer = (rows[-1][1] / rows[0][1]) ** (1.0 / (len(rows) - 1))
    if 1.0 / config.init_var_ratio <= per_layer <= config.init_var_ratio:
        return None
    hops = [rows[k + 1][1] / rows[k][1] for k in range(len(rows) - 1)]
    worst = int(np.argmax([abs(math.log(h)) for h in hops])) + 1
    target = rows[worst][0]
    owner = model.layer(target)
    if owner is None or owner.params == 0:
        owner = cm.previous_param_layer(model, target)
    oidx = owner.index if owner is not None else target
    word = "grows" if per_layer > 1 else "shrinks"
    fix = (
        f"the activation variance {word} {cm.fmt(max(per_layer, 1 / per_layer))}x per layer at step 1 "
        f"(worst at {cm.name(model, oidx)}): initialize with He (relu) / Glorot scale so activations keep "
        "their variance"
    )
    return cm.finding(
        Symptom.POOR_INITIALIZATION,
        Phase.FORWARD,
        model,
        trace,
        oidx,
        rec.step,
        f"the variance of the ReLU activations {word} {cm.fmt(max(per_layer, 1 / per_layer))}x per layer "
        "at step 1",
        {
            "second_moments": [m for _, m in rows],
            "per_layer_ratio": per_layer,
            "layers": cm.names(model, [i for i, _ in rows]),
            "rule": "variance_drift",
        },
        [cm.cause(Category.INITIALIZATION, cw.INIT_VARIANCE_DRIFT, fix, model, oidx)],
        rec.step,
    )
