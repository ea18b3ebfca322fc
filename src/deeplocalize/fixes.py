"""Concrete fix texts: each names the layer, the setting in use and a suggested one.

Every helper has the signature ``(model, trace, layer) -> str`` (``FixFn``) so the root-cause table in
``diagnose`` can refer to them; ``lr_fix`` and ``layer_label`` are the building blocks. numpy + stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deeplocalize.model import LayerInfo, LayerRef, ModelInfo
from deeplocalize.trace import Trace

FixFn = Callable[[ModelInfo, Trace, LayerRef | None], str]

#: Usual learning-rate range per optimizer: (low, high, a good first value). Common defaults of PyTorch/Keras
#: and of the tuning guides; outside the range is "far" from it.
USUAL_LR: dict[str, tuple[float, float, float]] = {
    "sgd": (1e-3, 0.1, 0.01),
    "adam": (1e-5, 1e-2, 1e-3),
    "adamw": (1e-5, 1e-2, 1e-3),
    "nadam": (1e-5, 1e-2, 1e-3),
    "adamax": (1e-5, 1e-2, 2e-3),
    "rmsprop": (1e-5, 1e-2, 1e-3),
    "adagrad": (1e-3, 0.1, 0.01),
    "adadelta": (1e-2, 10.0, 1.0),
}
_DEFAULT_LR_RANGE = (1e-5, 0.1, 1e-3)
_DISPLAY = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "adamax": "Adamax",
            "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta"}


# ------------------------------------------------------------------------------------------ building blocks
def layer_label(layer: LayerRef | LayerInfo | None, model: ModelInfo | None = None) -> str:
    """"layer `fc2` (Linear, sigmoid)" or "the model" when no layer is known."""
    if layer is None:
        return "the model"
    info = model.layer(layer.index) if model is not None else None
    act = getattr(layer, "activation", None) or (info.activation if info is not None else None)
    detail = layer.type if not act or act == "linear" else f"{layer.type}, {act}"
    return f"layer `{layer.name}` ({detail})"


def current_lr(model: ModelInfo, trace: Trace | None) -> float | None:
    """The learning rate in force at the latest step (trace), else the optimizer's."""
    if trace is not None and trace.steps_observed:
        lr = trace.lr()
        lr = lr[np.isfinite(lr)]
        if len(lr):
            return float(lr[-1])
    if model.optimizer is not None and model.optimizer.lr is not None:
        return float(model.optimizer.lr)
    return None


def optimizer_key(model: ModelInfo) -> str | None:
    return None if model.optimizer is None else model.optimizer.name.lower()


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def optimizer_setting_problem(model: ModelInfo) -> str | None:
    """A fix text when an optimizer hyper-parameter is invalid or far outside any usual value, else None.

    Invalid: momentum >= 1 or a beta >= 1 (the running averages grow without bound), eps <= 0. Far outside:
    eps >= 0.1 on an adaptive optimizer (eps then dominates sqrt(v): steps shrink to lr * g / eps), weight
    decay >= 0.05 coupled to the gradient (SGD/Adam L2; usual 1e-5..1e-3) or >= 0.5 decoupled (AdamW; usual
    0.01..0.1): the decay then outweighs the gradient and pulls every weight to 0.
    """
    opt = model.optimizer
    if opt is None:
        return None
    key = (opt.name or "").lower()
    name = _DISPLAY.get(key, opt.name)
    if opt.momentum is not None and opt.momentum >= 1.0:
        return f"{name} momentum={_fmt(opt.momentum)} is >= 1: the velocity grows without bound; use 0.9"
    betas = opt.extra.get("betas") if isinstance(opt.extra, dict) else None
    if isinstance(betas, (list, tuple)) and len(betas) == 2 and any(
            b is not None and not 0.0 <= float(b) < 1.0 for b in betas):
        return (f"{name} betas={tuple(float(b) for b in betas)} must lie in [0, 1): use (0.9, 0.999) "
                "(beta_1=0.9, beta_2=0.999)")
    eps = opt.extra.get("eps") if isinstance(opt.extra, dict) else None
    if eps is not None and opt.adaptive:
        if float(eps) <= 0:
            return f"{name} eps={_fmt(float(eps))} can divide by zero: use 1e-8 (torch) / 1e-7 (Keras)"
        if float(eps) >= 0.1:
            return (f"{name} eps={_fmt(float(eps))} dominates sqrt(v), so every step shrinks to "
                    "lr * g / eps: use 1e-8 (torch) / 1e-7 (Keras)")
    wd = opt.weight_decay
    if wd is not None and wd > 0:
        limit = 0.5 if key == "adamw" else 0.05
        if wd >= limit:
            usual = "0.01" if key == "adamw" else "1e-4"
            return (f"{name} weight_decay={_fmt(wd)} outweighs the gradient and pulls every weight to 0: "
                    f"use about {usual}")
    return None


def lr_outside_usual(model: ModelInfo, trace: Trace | None, factor: float = 1.0) -> str | None:
    """"high" / "low" when the learning rate in force is outside the optimizer's usual range (by more than
    ``factor``), else None."""
    lr = current_lr(model, trace)
    key = optimizer_key(model)
    if lr is None or key not in USUAL_LR or lr <= 0:
        return None
    low, high, _ = USUAL_LR[key]
    return "high" if lr > high * factor else "low" if lr < low / factor else None


def lr_fix(model: ModelInfo, trace: Trace | None, direction: str | None, reason: str = "") -> str:
    """Learning-rate advice; ``direction``: "high" (lower it), "low" (raise it), None (by the usual range)."""
    lr = current_lr(model, trace)
    key = optimizer_key(model)
    low, high, good = USUAL_LR.get(key or "", _DEFAULT_LR_RANGE)
    name = _DISPLAY.get(key or "", key or "this optimizer")
    why = f" ({reason})" if reason else ""
    usual = f"the usual {name} range ({_fmt(low)}–{_fmt(high)}){why}; try {_fmt(good)}"
    if lr is None:
        verb = {"high": "lower", "low": "raise"}.get(direction or "", "tune")
        return f"{verb} the learning rate{why}; for {name} start from {_fmt(good)}"
    if direction is None:
        direction = "high" if lr > high else "low" if lr < low else None
    if lr <= 0:
        return f"lr={_fmt(lr)} never changes the weights; use {_fmt(good)} for {name}"
    if direction == "high":
        if lr > high:
            return f"lr={_fmt(lr)} is far above {usual}"
        return f"lr={_fmt(lr)} is too high for this model{why}; try {_fmt(lr / 10)}"
    if direction == "low":
        if lr < low:
            return f"lr={_fmt(lr)} is far below {usual}"
        return f"lr={_fmt(lr)} is too low for this model{why}; try {_fmt(lr * 10)}"
    return f"tune the learning rate (lr={_fmt(lr)} with {name}){why}: try {_fmt(lr / 10)} and {_fmt(lr * 10)}"


def input_range_text(model: ModelInfo) -> str:
    """"x in [0, 255]" from the first batch, or "" when unknown."""
    data = model.data
    if data is None or data.x_min is None or data.x_max is None:
        return ""
    return f"first batch x in [{_fmt(data.x_min)}, {_fmt(data.x_max)}]"


# ------------------------------------------------------------------------------------------ fix helpers
def lower_lr(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return lr_fix(model, trace, "high")


def raise_lr(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return lr_fix(model, trace, "low")


def tune_lr(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return lr_fix(model, trace, None)


def normalize_inputs(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    rng = input_range_text(model)
    seen = f" ({rng})" if rng else ""
    return f"normalize the inputs{seen}: scale to [0, 1] or standardize each feature to mean 0, std 1"


def scale_targets(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    data = model.data
    span = "" if data is None or data.y_min is None else f" (y in [{_fmt(data.y_min)}, {_fmt(data.y_max)}])"
    return f"standardize the regression targets{span} to mean 0, std 1, and invert the scaling on predictions"


def better_optimizer(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    key = optimizer_key(model) or "the optimizer"
    momentum = model.optimizer.momentum if model.optimizer is not None else None
    now = f"{_DISPLAY.get(key, key)}" + (f" (momentum={_fmt(momentum)})" if momentum is not None else "")
    if key == "sgd" and not momentum:
        return f"{now} makes slow progress here: try SGD with momentum=0.9, or Adam(lr=1e-3)"
    if key in ("adam", "adamw", "nadam"):
        return f"{now} makes slow progress here: check its eps and betas, or try SGD with momentum=0.9"
    return f"{now} makes slow progress here: try Adam(lr=1e-3)"


def clip_gradients(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    where = f" (they grow at {layer_label(layer, model)})" if layer is not None else ""
    return (f"clip the gradients{where}: torch.nn.utils.clip_grad_norm_(params, 1.0), "
            "or clipnorm=1.0 on the Keras optimizer")


def zero_grad(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    if model.framework == "keras":  # Keras's own train_step resets them; a custom one may not (seen)
        if model.extra.get("grads_not_reset_from") is None:
            return ""
        return ("call self.zero_grad() at the start of the custom train_step, before loss.backward(); "
                "otherwise gradients accumulate across steps")
    if model.optimizer is None and model.of_bare_tensors:
        return ("zero each trained tensor's gradient once per step, after its update (w.grad.zero_() or "
                "w.grad = None); otherwise gradients accumulate across steps")
    return ("call optimizer.zero_grad() (or model.zero_grad()) once per step, before loss.backward(); "
            "otherwise gradients accumulate across steps")


def unfreeze(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)} is never updated: check requires_grad / trainable and that its "
            "parameters are passed to the optimizer")


def weighted(model: ModelInfo, layer: LayerRef | None) -> LayerRef | None:
    """The layer itself when it has weights, else the nearest layer before it that has (a ReLU's Linear):
    a fix that changes weights must name a layer that has some."""
    if layer is None:
        return None
    info = model.layer(layer.index)
    if info is None or info.params > 0:
        return layer
    before = [x for x in model.layers if x.index < layer.index and x.params > 0]
    return max(before, key=lambda x: x.index).ref if before else layer


def reinitialize(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    layer = weighted(model, layer)
    info = model.layer(layer.index) if layer is not None else None
    if info is not None and info.type == "Tensor":  # a tensor the script creates and trains by hand
        return (f"initialize {layer_label(layer, model)} at a smaller scale (e.g. torch.randn(...) / "
                "sqrt(fan_in), Kaiming/Xavier scale), never zero or constant")
    init = f" (now {info.kernel_initializer})" if info is not None and info.kernel_initializer else ""
    return (f"re-initialize {layer_label(layer, model)}{init} at He scale for ReLU or Glorot scale for "
            "tanh/sigmoid (kernel_initializer='he_normal' / nn.init.kaiming_normal_), never zero or constant")


def leaky_activation(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)}: its ReLU units stop activating; use LeakyReLU or ELU, "
            "or a lower learning rate")


def unsaturating_activation(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)} saturates: use ReLU (with He init) there, or add BatchNorm before "
            "the activation")


def gradient_path(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"gradients fade before {layer_label(layer, model)}: use ReLU-family activations, add BatchNorm "
            "or residual connections, or use fewer layers")


def add_normalization(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return f"add BatchNorm/LayerNorm after {layer_label(layer, model)} to keep its values in range"


def guard_operation(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)} turns finite inputs into NaN/Inf: guard its division, log, sqrt or "
            "exp (add an epsilon, clamp the argument)")


def stable_loss(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    name = model.loss.framework_name or model.loss.name if model.loss is not None else "the loss"
    return (f"the loss ({name}) yields NaN/Inf from finite outputs: compute it from logits "
            "(CrossEntropyLoss, BCEWithLogitsLoss, from_logits=True) or clamp before log")


def clean_data(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    data = model.data
    count = "" if data is None else f" ({data.x_nonfinite} NaN/Inf inputs, {data.y_nonfinite} NaN/Inf labels)"
    return f"the data contains NaN/Inf{count}: drop or impute those rows before training"


def check_labels(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return ("check the data pipeline: labels must match their inputs (shuffled together) and the right "
            "label column must be used")


def fix_output_activation(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)}: its output never changes: check its activation (softmax over 1 "
            "unit is always 1.0; an all-dead ReLU is always 0)")


def regularize(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return ("the model overfits: add dropout or weight decay, augment or enlarge the data, or stop early "
            "at the epoch with the best val_loss")


def smaller_model(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    params = sum(layer.params for layer in model.layers)
    return f"reduce the capacity ({params} parameters now): fewer or narrower layers"


def change_loss(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    name = model.loss.framework_name or model.loss.name if model.loss is not None else "the loss"
    return f"check that the loss ({name}) suits the task and the output activation"


def update_ratio_text(ratio: float) -> str:
    """"update/weight norm ratio 0.42 per step" (DeepDiagnosis' learning-rate rule)."""
    return f"updates are {ratio:.2g}x the weights' norm per step" if math.isfinite(ratio) else ""


def inspect_batch(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return ("look at the batch of that step (--dump-on-fault DIR saves it): corrupt or mislabelled samples "
            "make one step's loss spike; skip or clean them, or clip the gradients")


def fp32_master_weights(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    where = f" of {layer_label(layer, model)}" if layer is not None else ""
    return (f"the updates{where} are below the resolution of its low-precision weights and are rounded away: "
            "keep fp32 master weights (autocast with fp32 parameters, or an optimizer with fp32 state), "
            "raise the learning rate, or use bf16 -> fp32 for these parameters")


def fp32_master_weights_for_half(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)} holds float16 weights and the optimizer updates them in float16, "
            "where its epsilon (1e-8) and small squared gradients round to 0 and the step divides by zero: "
            "keep fp32 weights and train under torch.autocast(dtype=torch.float16) with a "
            "torch.amp.GradScaler (Keras: the 'mixed_float16' policy), or use bf16")


def overflow_headroom(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)} approaches the largest value of its dtype: use bf16 instead of "
            "fp16, normalize its input (LayerNorm), scale its init down, or keep it in fp32")


def attention_temperature(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"the attention of {layer_label(layer, model)} collapses onto single positions: normalize "
            "queries and keys (QK-norm), scale the scores by 1/sqrt(head_dim), lower the learning rate or "
            "warm it up")


def causal_mask(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"the self-attention of {layer_label(layer, model)} lets each position see the later ones, so "
            "the model reads the token it must predict: make it causal (F.scaled_dot_product_attention(..., "
            "is_causal=True), or an attn_mask from nn.Transformer.generate_square_subsequent_mask)")


def shift_labels(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return ("each target is the input token at its own position, so the model learns to copy its input: "
            "score the logits at position i against the token at i + 1 (logits[:, :-1] against "
            "labels[:, 1:])")


def shift_decoder_inputs(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    name = model.data.y_in_input if model.data is not None and model.data.y_in_input else "the decoder input"
    return (f"feed `{name}` the targets shifted one position right (the start token first, the last token "
            "dropped); a Hugging Face encoder-decoder does this itself when it gets only labels= (padding "
            "as -100)")


def batch_first(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"{layer_label(layer, model)} reads dimension 0 of its input as time: create it with "
            "batch_first=True for (batch, time, features) inputs, or pass x.transpose(0, 1)")


def resync_ranks(model: ModelInfo, trace: Trace, layer: LayerRef | None) -> str:
    return (f"the replicas of {layer_label(layer, model)} differ across ranks: broadcast the initial "
            "parameters from rank 0, keep every rank's parameter updates identical (no rank-local "
            "updates or RNG-dependent parameter changes), and wrap the model in DistributedDataParallel")
