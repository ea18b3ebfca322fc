"""Model facts from PyTorch objects: layers, loss, optimizer, data; and the on-device accuracy.

Everything here reads module attributes or does a one-time host read (the first batch); nothing runs per
step except ``accuracy_scalars`` (on the device, no host read).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch
from torch import nn

from deeplocalize import summary
from deeplocalize.compat import torch as compat
from deeplocalize.model import DataInfo, LayerInfo, LossInfo, OptimizerInfo

#: Activation kind of activation modules, by class name.
_ACTIVATIONS: dict[str, str] = {
    "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu", "RReLU": "rrelu",
    "ELU": "elu", "SELU": "selu", "CELU": "celu", "GELU": "gelu", "SiLU": "silu", "Mish": "mish",
    "Softplus": "softplus", "Softsign": "softsign", "Sigmoid": "sigmoid", "Hardsigmoid": "hard_sigmoid",
    "Tanh": "tanh", "Hardtanh": "hard_tanh", "Tanhshrink": "tanhshrink", "Hardswish": "hard_swish",
    "Softmax": "softmax", "LogSoftmax": "log_softmax", "Softmin": "softmin", "Softmax2d": "softmax",
    "LogSigmoid": "log_sigmoid", "Threshold": "threshold", "Identity": "linear",
}
#: Layers whose output is an affine function of the input (no activation applied).
#: Integer labels below this are read as class indices (their frequencies give the prior entropy).
_MAX_CLASSES = 1_000_000
_AFFINE = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd, nn.Embedding, nn.EmbeddingBag)
#: Activations whose outputs get a dead-unit fraction (output <= 0 for every sample).
RELU_FAMILY = frozenset({"relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "threshold"})

#: Parameter-free torch layers that cannot turn finite inputs into NaN/Inf, forward or backward (barring
#: overflow at values near the dtype's maximum): on a cheap step their output takes its input's finiteness
#: flag, and their output gradients are not observed: a NaN is still localized to where it first appears.
PASS_THROUGH = frozenset({
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
    "Hardtanh", "Hardsigmoid", "Hardswish", "Softsign", "Softmax", "LogSoftmax",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "Flatten", "Unflatten", "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
})


def is_pass_through(module: nn.Module) -> bool:
    """True for a built-in layer of ``PASS_THROUGH`` without parameters (subclasses are not trusted)."""
    cls = type(module)
    return (cls.__name__ in PASS_THROUGH and cls.__module__.startswith("torch.nn.modules")
            and next(iter(module.parameters()), None) is None)


#: Built-in layers whose ``bias`` gradient is their output gradient summed over every axis but the feature
#: axis, the very sum a finiteness flag takes: with a trainable bias, the layer's parameter gradients are
#: non-finite whenever its output gradient is, so a cheap step reads the output gradient's finiteness from
#: them (one fused norm at the step's end) instead of hooking the gradient (one more pass over it).
#: ``nn.Embedding`` (no padding index, dense gradient) qualifies too: its weight gradient adds up every row
#: of the output gradient; so does ``nn.MultiheadAttention`` through ``out_proj.bias``.
BIAS_SUMS_OUTPUT_GRAD = frozenset({
    "Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LayerNorm", "GroupNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
})


def output_grad_in_params(module: nn.Module, params: list[torch.Tensor]) -> bool:
    """Are the layer's parameter gradients non-finite whenever its output gradient is (see
    ``BIAS_SUMS_OUTPUT_GRAD``)? Built-in layers only (subclasses are not trusted)."""
    cls = type(module)
    if not cls.__module__.startswith("torch.nn.modules"):
        return False

    def trainable(t: Any) -> bool:  # a trainable tensor among the layer's measured parameters
        return isinstance(t, torch.Tensor) and t.requires_grad and any(p is t for p in params)

    if cls is nn.Embedding:
        return module.padding_idx is None and not module.sparse and trainable(compat.read_attr(module))
    if cls is nn.MultiheadAttention:
        return trainable(module.out_proj.bias)
    return cls.__name__ in BIAS_SUMS_OUTPUT_GRAD and trainable(getattr(module, "bias", None))


#: Autograd nodes whose outputs are finite whenever their inputs are (barring overflow near the dtype's
#: maximum, where a finiteness flag, a sum, overflows first): a tensor such a node made from tensors whose
#: flags are known takes their flags instead of a pass of its own (a residual sum ``x + f(x)``, ``F.relu``
#: between layers, a view or a mean). Products, divisions, exp/log/sqrt/pow and dtype casts are not here.
FINITE_PRESERVING_NODES = frozenset({
    "AddBackward0", "AddBackward1", "SubBackward0", "SubBackward1", "NegBackward0",
    "ReluBackward0", "GeluBackward0", "SiluBackward0", "SigmoidBackward0", "TanhBackward0",
    "LeakyReluBackward0", "HardtanhBackward0", "EluBackward0", "SoftmaxBackward0", "LogSoftmaxBackward0",
    "ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0", "AliasBackward0", "TransposeBackward0",
    "TransposeBackward1", "PermuteBackward0", "TBackward0", "ExpandBackward0", "SqueezeBackward0",
    "SqueezeBackward1", "SqueezeBackward2", "UnsqueezeBackward0", "SliceBackward0", "SelectBackward0",
    "CloneBackward0", "CatBackward0", "StackBackward0", "MeanBackward0", "MeanBackward1",
    "NativeDropoutBackward0", "MaxPool2DWithIndicesBackward0", "AvgPool2DBackward0",
})


#: torch loss module class / functional name -> (normalized name, what the loss expects).
_LOSSES: dict[str, tuple[str, str]] = {
    "CrossEntropyLoss": ("cross_entropy", "logits"), "cross_entropy": ("cross_entropy", "logits"),
    "NLLLoss": ("nll", "log_probabilities"), "nll_loss": ("nll", "log_probabilities"),
    "BCELoss": ("bce", "probabilities"), "binary_cross_entropy": ("bce", "probabilities"),
    "BCEWithLogitsLoss": ("bce_logits", "logits"),
    "binary_cross_entropy_with_logits": ("bce_logits", "logits"),
    "MSELoss": ("mse", "values"), "mse_loss": ("mse", "values"),
    "L1Loss": ("mae", "values"), "l1_loss": ("mae", "values"),
    "HuberLoss": ("huber", "values"), "huber_loss": ("huber", "values"),
    "SmoothL1Loss": ("smooth_l1", "values"), "smooth_l1_loss": ("smooth_l1", "values"),
    "KLDivLoss": ("kl_div", "log_probabilities"), "kl_div": ("kl_div", "log_probabilities"),
    "MultiLabelSoftMarginLoss": ("multilabel_soft_margin", "logits"),
    "CTCLoss": ("ctc", "log_probabilities"), "GaussianNLLLoss": ("gaussian_nll", "values"),
    "PoissonNLLLoss": ("poisson_nll", "values"),
}
#: Losses whose (input, target) pair allows an accuracy.
_CLASSIFICATION = frozenset({"cross_entropy", "nll", "bce", "bce_logits"})


def is_loss_module(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.loss._Loss)


def activation_of(module: nn.Module) -> str | None:
    """The activation a module applies to its output ("relu", "linear", ...), or None if not applicable."""
    kind = _ACTIVATIONS.get(type(module).__name__)
    if kind is not None:
        return kind
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn") and cls.__name__ in _ACTIVATIONS:
            return _ACTIVATIONS[cls.__name__]
    return "linear" if isinstance(module, _AFFINE) else None


def softmax_dim(module: nn.Module, ndim: int) -> int:
    """The dimension an nn.Softmax/LogSoftmax/Softmin normalizes (torch's legacy rule when dim is None)."""
    dim = getattr(module, "dim", None)
    if type(module).__name__ == "Softmax2d":
        return -3
    if dim is None:
        return 0 if ndim in (0, 1, 3) else 1
    return int(dim)


def default_unit_axis(module: nn.Module | None, ndim: int) -> int | None:
    """Feature axis of an output: channels (1) for conv-like outputs, else the last axis."""
    if ndim <= 1:
        return None if ndim == 0 else 0
    if isinstance(module, nn.modules.conv._ConvNd | nn.modules.batchnorm._BatchNorm | nn.GroupNorm):
        return 1
    if ndim >= 4:
        return 1
    return -1


def layer_params(module: nn.Module, recurse: bool = False) -> list[nn.Parameter]:
    return list(module.parameters(recurse=recurse))


def layer_info(index: int, name: str, module: nn.Module, shape: tuple[int, ...] | None,
               unit_axis: int | None, params: list[nn.Parameter]) -> LayerInfo:
    """LayerInfo of a torch layer from its module and the shape of its first training output."""
    activation = activation_of(module)
    units: int | None = None
    for attr in ("out_features", "out_channels", "num_features", "hidden_size", "embedding_dim"):
        if isinstance(getattr(module, attr, None), int):
            units = getattr(module, attr)
            break
    weight = compat.read_attr(module)
    if isinstance(module, nn.Linear) and isinstance(weight, torch.Tensor) and weight.ndim == 2:
        units = int(weight.shape[0])  # the weight decides, not an attribute a re-tied weight left stale
    if units is None and shape and unit_axis is not None and len(shape) > 0:
        units = shape[unit_axis]
    info = LayerInfo(
        index=index, name=name, type=type(module).__name__, activation=activation, units=units,
        params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        output_shape=shape, unit_axis=unit_axis,
    )
    if activation in ("softmax", "log_softmax", "softmin") and shape:
        info.softmax_axis_size = shape[softmax_dim(module, len(shape))]
    if params:
        info.extra["param_dtype"] = str(params[0].dtype).removeprefix("torch.")
    if isinstance(module, nn.RNNBase):
        info.extra["batch_first"] = bool(module.batch_first)
    if isinstance(module, nn.modules.dropout._DropoutNd):  # nn.Dropout, Dropout1d/2d/3d, AlphaDropout
        info.extra["dropout_rate"] = float(module.p)
    for attr in ("in_features", "in_channels", "input_size", "embed_dim"):
        if isinstance(getattr(module, attr, None), int):
            info.extra["in_features"] = int(getattr(module, attr))
            break
    return info


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Loss")).lower() or "custom"


def loss_info(name: str) -> LossInfo:
    """LossInfo from a torch loss class name ("CrossEntropyLoss") or functional name ("cross_entropy")."""
    norm, expects = _LOSSES.get(name, (_snake(name), "values"))
    return LossInfo(name=norm, expects=expects, from_logits=expects == "logits" or None, framework_name=name)


def loss_reduction(kwargs: dict[str, Any]) -> str:
    """"mean", "sum" or "none": how a torch loss call reduces (its legacy ``size_average``/``reduce`` too)."""
    reduction = kwargs.get("reduction")
    if isinstance(reduction, str):
        return reduction
    if kwargs.get("reduce") is False:
        return "none"
    return "sum" if kwargs.get("size_average") is False else "mean"


def optimizer_params(opt: Any) -> list[torch.Tensor]:
    """Every parameter ``opt`` updates, group by group (a torch optimizer or ``torch_keras_optimizer``'s)."""
    return [p for group in opt.param_groups for p in group["params"]]


def optimizer_info(opt: torch.optim.Optimizer) -> OptimizerInfo:
    """OptimizerInfo from the first parameter group (other groups' lrs under extra["lrs"])."""
    group = opt.param_groups[0] if opt.param_groups else {}
    momentum = group.get("momentum")
    betas = group.get("betas")
    extra: dict[str, Any] = {}
    if betas is not None:
        extra["betas"] = [float(b) for b in betas]
    if len(opt.param_groups) > 1:
        extra["lrs"] = [_float(g.get("lr")) for g in opt.param_groups]
    for key in ("nesterov", "amsgrad", "eps", "alpha"):
        if key in group and isinstance(group[key], bool | int | float):
            extra[key] = group[key]
    return OptimizerInfo(name=type(opt).__name__.lower(), lr=_float(group.get("lr")),
                         momentum=_float(momentum),
                         weight_decay=_float(group.get("weight_decay")), extra=extra)


def current_lr(opt: torch.optim.Optimizer) -> float | None:
    return _float(opt.param_groups[0].get("lr")) if opt.param_groups else None


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def x_facts(x: torch.Tensor, info: DataInfo) -> None:
    """Fill the input-batch facts of ``info`` (one host read, first batch only)."""
    info.x_shape = tuple(int(s) for s in x.shape)
    info.x_is_float = bool(x.is_floating_point())
    v = x.detach().float()
    finite = v[torch.isfinite(v)]
    info.x_nonfinite = int(v.numel() - finite.numel())
    if finite.numel():
        info.x_min, info.x_max = float(finite.min()), float(finite.max())
        info.x_mean, info.x_std = float(finite.mean()), float(finite.std(unbiased=False))
    if v.dim() >= 2 and v.shape[0] > 1 and info.x_nonfinite == 0:  # features: dim 1 (channels of an image)
        rows = v.transpose(0, 1).reshape(v.shape[1], -1).T
        rows = rows[:: max(1, rows.shape[0] // summary.SCALE_ROWS)].cpu().numpy()
        info.x_feature_scale_ratio, info.x_continuous_scale_ratio = summary.feature_scale_ratios(rows)


def y_facts(y: torch.Tensor, info: DataInfo, ignore_index: int | None = None) -> np.ndarray | None:
    """Fill the label facts of ``info`` from a loss target (one host read, first batch only); integer labels
    equal to ``ignore_index`` (-100: what Hugging Face pads with) are not labels. Returns the batch's class
    counts when its targets are class labels (the prior's entropy is refined with later batches':
    ``add_class_counts``)."""
    info.y_shape = tuple(int(s) for s in y.shape)
    v = y.detach().float()
    if ignore_index is not None and not y.is_floating_point():
        v = v[y.detach() != ignore_index]
    finite = v[torch.isfinite(v)]
    info.y_nonfinite = int(v.numel() - finite.numel())
    if not finite.numel():
        return None
    info.y_min, info.y_max = float(finite.min()), float(finite.max())
    info.y_std = float(finite.std(unbiased=False))
    info.y_is_integer = bool((finite == finite.round()).all())
    info.y_bce_floor = None if info.y_is_integer else summary.soft_target_entropy(finite.cpu().numpy())
    binary = bool(((finite == 0) | (finite == 1)).all())
    if v.dim() >= 2 and v.shape[-1] > 1 and binary and info.y_nonfinite == 0:
        sums = v.sum(dim=-1)
        info.y_is_one_hot = bool((sums == 1).all())
        info.y_is_multi_hot = bool((sums > 1).any())
        counts = v.reshape(-1, v.shape[-1]).sum(dim=0).cpu().numpy() if info.y_is_one_hot else None
    else:
        info.y_is_one_hot = info.y_is_multi_hot = False
        integer_labels = info.y_is_integer and info.y_min >= 0 and info.y_max < _MAX_CLASSES
        counts = torch.bincount(finite.long().reshape(-1)).cpu().numpy() if integer_labels else None
    if counts is not None:
        info.y_prior_entropy = summary.prior_entropy(counts)
    return counts


def add_class_counts(counts: torch.Tensor, y: torch.Tensor, one_hot: bool, ignore_index: int | None) -> bool:
    """Add a later batch's class counts to ``counts`` (a vector on the targets' device, one per class), read
    as the first batch's were (one-hot rows or integer labels), without a host read: labels outside the
    classes and ``ignore_index`` count nowhere. False (nothing added) when not labels of that kind."""
    classes = counts.shape[0]
    with torch.no_grad():
        if one_hot:
            if y.dim() < 2 or y.shape[-1] != classes or not y.is_floating_point() or (
                    y.device != counts.device):
                return False
            counts += y.detach().reshape(-1, classes).to(counts.dtype).sum(dim=0)
            return True
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.device != counts.device:
            return False
        labels = y.detach().reshape(-1).long()
        valid = (labels >= 0) & (labels < classes)
        if ignore_index is not None:
            valid &= labels != ignore_index
        counts.scatter_add_(0, labels.clamp(0, classes - 1), valid.to(counts.dtype))
    return True


def target_alignment(ids: torch.Tensor, target: torch.Tensor, ignore_index: int) -> str | None:
    """How targets line up with a 2-d batch of input token ids, (batch, length) or (length, batch): "next"
    when each target is the next input token (targets of the same size, or one shorter per row: shifted
    inside the model), "same" when it is the token at its own position, None otherwise (or too few scored
    positions to tell)."""
    if target.is_floating_point() or ids.dim() != 2 or min(ids.shape) < 2:
        return None
    n, length = ids.shape
    ids, target = ids.detach(), target.detach().to(ids.device)
    if target.numel() == n * length:
        y = target.reshape(n, length)
        pairs = [("same", y, ids), ("next", y[:, :-1], ids[:, 1:]), ("next", y[:-1], ids[1:])]
    elif target.numel() == n * (length - 1):
        y = target.reshape(n, length - 1)
        pairs = [("same", y, ids[:, :-1]), ("next", y, ids[:, 1:])]
    else:
        return None
    matched = set()
    for name, labels, tokens in pairs:
        scored = labels != ignore_index
        if int(scored.sum()) < summary.ALIGNED_MIN_POSITIONS:
            return None
        if float((labels[scored] == tokens[scored]).float().mean()) >= summary.ALIGNED_SHARE:
            matched.add(name)
    return matched.pop() if len(matched) == 1 else None


def initial_weight_facts(module: nn.Module) -> dict[str, Any] | None:
    """The initial kernel of a Linear / convolution layer as it is (one host read, before the first
    update): its std, mean and range, fan-in and fan-out from its shape, and its bias's mean and std."""
    weight = compat.read_attr(module)
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2 or not weight.is_floating_point():
        return None
    w = weight.detach().float()
    receptive = int(w[0, 0].numel()) if w.dim() > 2 else 1
    transposed = isinstance(module, nn.modules.conv._ConvTransposeNd)
    fan_in = int(w.shape[0 if transposed else 1]) * receptive
    fan_out = int(w.shape[1 if transposed else 0]) * receptive
    std, mean = torch.std_mean(w, unbiased=False)
    out: dict[str, Any] = {"kernel_std": float(std), "kernel_mean": float(mean), "fan_in": fan_in,
                           "fan_out": fan_out, "kernel_min": float(w.min()), "kernel_max": float(w.max()),
                           "kernel_numel": int(w.numel())}
    bias = compat.read_attr(module, "bias")
    if isinstance(bias, torch.Tensor) and bias.numel() > 0:
        b_std, b_mean = torch.std_mean(bias.detach().float(), unbiased=False)
        out.update(bias_std=float(b_std), bias_mean=float(b_mean))
    return out


def output_value_facts(pred: torch.Tensor) -> dict[str, Any] | None:
    """What the values a loss receives are (one host read, first step only), so the loss checks judge the
    values instead of guessing from module types (a ``F.log_softmax`` in ``forward`` is invisible to them):
    the range, the share of exact zeros, and whether rows are probabilities (in [0, 1], summing to 1 over
    the last axis) or log-probabilities (<= 0, their exp summing to 1)."""
    if not isinstance(pred, torch.Tensor) or not pred.is_floating_point() or pred.numel() == 0:
        return None
    v = pred.detach().float()
    finite = bool(torch.isfinite(v).all())
    out: dict[str, Any] = {"min": float(v.min()), "max": float(v.max()), "shape": [int(s) for s in v.shape],
                           "finite": finite, "sums_to_one": False, "exp_sums_to_one": False,
                           "zero_share": float((v == 0).float().mean())}
    if finite and v.dim() >= 2 and v.shape[-1] > 1:
        if out["min"] >= 0 and out["max"] <= 1:
            out["sums_to_one"] = bool(torch.allclose(v.sum(-1), torch.ones(()), atol=1e-3))
        if out["max"] <= 1e-6:
            out["exp_sums_to_one"] = bool(torch.allclose(v.exp().sum(-1), torch.ones(()), atol=1e-3))
    return out


def infer_task(loss: LossInfo | None, pred: torch.Tensor | None,
               data: DataInfo) -> tuple[str | None, int | None]:
    """(task, n_classes) from the loss and the shapes of its input and target."""
    if loss is None:
        return None, None
    if loss.name in ("cross_entropy", "nll"):
        n = int(pred.shape[1]) if pred is not None and pred.dim() >= 2 else None
        return ("binary" if n == 2 else "multiclass"), n
    if loss.name in ("bce", "bce_logits", "multilabel_soft_margin"):
        cols = int(pred.shape[-1]) if pred is not None and pred.dim() >= 2 else 1
        if cols > 1 and (data.y_is_multi_hot or loss.name == "multilabel_soft_margin"):
            return "multilabel", cols
        if cols > 1 and data.y_is_one_hot:
            return "multiclass", cols  # one-hot rows under a binary loss: exclusive classes
        return ("binary", 2) if cols == 1 else ("multilabel", cols)
    if loss.name in ("mse", "mae", "huber", "smooth_l1", "gaussian_nll", "poisson_nll"):
        return "regression", None
    return None, None


#: The dtype of the accuracy counts: that of the step's other numbers (norms, losses), so that the step's one
#: stack of scalars takes torch's fast path (a stack of mixed dtypes costs several times more on a CPU);
#: exact for counts below 2**24 per step, and within 1e-7 of the ratio beyond.
COUNT = torch.float32


def accuracy_scalars(loss_name: str, pred: torch.Tensor, target: torch.Tensor,
                     ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(correct, counted) as 0-dim device tensors, or None when the pair allows no accuracy."""
    if loss_name not in _CLASSIFICATION or not isinstance(pred, torch.Tensor):
        return None
    # no detach: argmax and comparisons are not differentiable, so no graph is recorded (two ops less)
    if loss_name in ("cross_entropy", "nll"):
        if pred.dim() < 2:
            return None
        guess = pred.argmax(dim=1)
        if target.shape == pred.shape and target.is_floating_point():  # class probabilities
            target = target.argmax(dim=1)
        if target.shape != guess.shape:
            return None
        valid = target != ignore_index
        if ignore_index < 0:  # an argmax never equals a negative label: no mask needed (one op less)
            return (guess == target).sum(dtype=COUNT), valid.sum(dtype=COUNT)
        return ((guess == target) & valid).sum(dtype=COUNT), valid.sum(dtype=COUNT)
    if pred.shape != target.shape:
        if pred.numel() != target.numel():
            return None
        target = target.reshape(pred.shape)
    threshold = 0.0 if loss_name == "bce_logits" else 0.5
    correct = ((pred > threshold) == (target > 0.5)).sum(dtype=COUNT)
    return correct, torch.full((), float(pred.numel()), dtype=COUNT, device=pred.device)


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
