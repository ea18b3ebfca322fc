"""Model facts from a Keras 3 model: layers, compiled loss, optimizer, and the data passed to ``fit``.

Reads only; never changes the model. Every reader tolerates what it does not know (custom layers, losses
given as functions, optimizers with schedules) by leaving the field ``None``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from deeplocalize import summary as sm
from deeplocalize.model import DataInfo, LayerInfo, LossInfo, ModelInfo, OptimizerInfo

#: Rows of ``x``/``y`` read to describe the data (a deterministic spread, not the first rows).
DATA_SAMPLE_ROWS = 4096

#: Activation layers, by class name, and the activation they apply.
_ACTIVATION_LAYERS = {
    "ReLU": "relu", "Softmax": "softmax", "LeakyReLU": "leaky_relu", "PReLU": "prelu", "ELU": "elu",
}

#: Keras loss names (functions, ``Loss`` classes, strings and aliases) -> (normalized name, expects).
_LOSSES: dict[str, tuple[str, str]] = {
    "binary_crossentropy": ("binary_crossentropy", "probabilities"),
    "binary_focal_crossentropy": ("binary_crossentropy", "probabilities"),
    "categorical_crossentropy": ("categorical_crossentropy", "probabilities"),
    "categorical_focal_crossentropy": ("categorical_crossentropy", "probabilities"),
    "sparse_categorical_crossentropy": ("sparse_categorical_crossentropy", "probabilities"),
    "mean_squared_error": ("mse", "values"), "mse": ("mse", "values"),
    "mean_absolute_error": ("mae", "values"), "mae": ("mae", "values"),
    "huber": ("huber", "values"), "log_cosh": ("log_cosh", "values"),
    "mean_squared_logarithmic_error": ("msle", "values"), "msle": ("msle", "values"),
    "mean_absolute_percentage_error": ("mape", "values"), "mape": ("mape", "values"),
    "kl_divergence": ("kl_div", "probabilities"), "kld": ("kl_div", "probabilities"),
    "poisson": ("poisson", "values"), "hinge": ("hinge", "values"),
    "squared_hinge": ("squared_hinge", "values"), "categorical_hinge": ("categorical_hinge", "values"),
    "cosine_similarity": ("cosine_similarity", "values"),
}


def snake(name: str) -> str:
    """``GlorotUniform`` -> ``glorot_uniform``; ``MeanSquaredError`` -> ``mean_squared_error``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def activation_name(fn: Any) -> str | None:
    """The lower-case name of a Keras activation (function, layer or string)."""
    if fn is None:
        return None
    if isinstance(fn, str):
        return fn.lower()
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return snake(name)


def initializer_name(init: Any) -> str | None:
    """``keras.initializers.GlorotUniform()`` -> ``glorot_uniform`` (string given: as is)."""
    if init is None:
        return None
    if isinstance(init, str):
        return init.lower()
    if hasattr(init, "get_config") or not hasattr(init, "__name__"):
        return snake(type(init).__name__)
    return snake(init.__name__)


def _shape(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(d) if d is not None else -1 for d in value)
    except TypeError:
        return None


def layer_info(index: int, layer: Any) -> LayerInfo:
    """Facts about one entry of ``model.layers``."""
    kind = type(layer).__name__
    activation = _ACTIVATION_LAYERS.get(kind)
    if activation is None and hasattr(layer, "activation"):
        activation = activation_name(layer.activation)
    if activation is None and (kind in ("Dense", "EinsumDense") or kind.startswith("Conv")):
        activation = "linear"
    output_shape = None
    try:
        output_shape = _shape(layer.output.shape)
    except Exception:  # layers without a symbolic output (subclassed models)
        output_shape = None
    unit_axis = -1
    if getattr(layer, "data_format", None) == "channels_first":
        unit_axis = 1
    units = getattr(layer, "units", None) or getattr(layer, "filters", None)
    if units is None and output_shape and len(output_shape) > 1 and output_shape[unit_axis] > 0:
        units = output_shape[unit_axis]
    try:
        params = int(layer.count_params()) if layer.built else 0
    except Exception:
        params = 0
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    softmax_axis = None
    if activation == "softmax":
        softmax_axis = int(units) if units else None
    extra = {"use_bias": getattr(layer, "use_bias", None), "trainable": bool(layer.trainable)}
    if "Dropout" in kind and isinstance(getattr(layer, "rate", None), int | float):  # and SpatialDropout
        extra["dropout_rate"] = float(layer.rate)
    if params and not trainable and layer.weights:  # a frozen layer: its first weight is never recorded
        extra["frozen_kernel"] = _kernel_summary(layer.weights[0])
    return LayerInfo(
        index=index,
        name=layer.name,
        type=kind,
        activation=activation,
        units=int(units) if units else None,
        params=params,
        trainable_params=trainable,
        output_shape=output_shape,
        unit_axis=unit_axis,
        kernel_initializer=initializer_name(getattr(layer, "kernel_initializer", None)),
        bias_initializer=initializer_name(getattr(layer, "bias_initializer", None)),
        softmax_axis_size=softmax_axis,
        extra=extra,
    )


#: A frozen kernel's summary reads at most about this many of its values (evenly strided): the uniform
#: test of ``structure.frozen_at_random_init`` needs a few thousand; a large pretrained embedding is not
#: copied whole.
_SUMMARY_VALUES = 100_000


def _kernel_summary(variable: Any) -> dict[str, float] | None:
    """std, mean and range of a weight, from an evenly strided sample of its values, and its size."""
    try:
        value = getattr(variable, "value", variable)
        n = int(np.prod(value.shape))
        if type(value).__module__.startswith("torch"):  # stride before the host copy
            w = value.detach().reshape(-1)[:: max(1, n // _SUMMARY_VALUES)].float().cpu().numpy()
        else:
            w = to_numpy(value).reshape(-1)[:: max(1, n // _SUMMARY_VALUES)]
    except Exception:  # a variable the backend cannot hand over
        return None
    if w.size == 0 or not np.isfinite(w).all():
        return None
    return {"kernel_std": float(w.std(dtype=np.float64)), "kernel_mean": float(w.mean(dtype=np.float64)),
            "kernel_min": float(w.min()), "kernel_max": float(w.max()), "kernel_numel": float(n)}


def _regularized(model: Any) -> bool:
    """The model adds losses of its own (weight regularizers, ``add_loss``) to the compiled loss."""
    try:
        return bool(model.losses) or any(getattr(layer, name, None) is not None for layer in model.layers
                                         for name in ("kernel_regularizer", "bias_regularizer",
                                                      "activity_regularizer"))
    except Exception:
        return True


def _output_layer_indices(model: Any) -> list[int]:
    """Indices in ``model.layers`` of the layers that make the model's outputs (a functional model's heads;
    none for a subclassed model)."""
    try:
        outputs = list(model.outputs or [])
    except Exception:  # a subclassed or unbuilt model has no symbolic outputs
        return []
    layers = list(model.layers)
    found = []
    for tensor in outputs:
        history = getattr(tensor, "_keras_history", None)
        layer = getattr(history, "operation", None) if history is not None else None
        found += [i for i, candidate in enumerate(layers) if candidate is layer]
    return found


def loss_info(loss: Any) -> LossInfo | None:
    """The compiled loss (``model.loss``): a string, a ``keras.losses.Loss`` or a function."""
    if loss is None:
        return None
    if isinstance(loss, (list, tuple, dict)):
        items = list(loss.values()) if isinstance(loss, dict) else list(loss)
        if len(items) != 1:
            return LossInfo(name="custom", framework_name=f"{len(items)} losses (multi-output)")
        loss = items[0]
    if isinstance(loss, str):
        framework = loss
        from_logits: bool | None = False
    else:
        fn = getattr(loss, "fn", None)  # LossFunctionWrapper
        framework = getattr(fn, "__name__", None) or getattr(loss, "__name__", None) or type(loss).__name__
        from_logits = getattr(loss, "from_logits", None)
        if from_logits is None:
            from_logits = (getattr(loss, "_fn_kwargs", None) or {}).get("from_logits")
    key = snake(framework)
    name, expects = _LOSSES.get(key, ("custom", "values"))
    if from_logits and expects == "probabilities":
        expects = "logits"
    if expects == "values" and name != "custom":
        from_logits = None
    return LossInfo(name=name, expects=expects, from_logits=from_logits, framework_name=framework)


def optimizer_info(optimizer: Any) -> OptimizerInfo | None:
    """The optimizer and its current hyper-parameters."""
    if optimizer is None:
        return None
    return OptimizerInfo(
        name=type(optimizer).__name__.lower(),
        lr=current_lr(optimizer),
        momentum=_float(getattr(optimizer, "momentum", None)),
        weight_decay=_float(getattr(optimizer, "weight_decay", None)),
        extra=_optimizer_extra(optimizer),
    )


def _optimizer_extra(optimizer: Any) -> dict[str, Any]:
    """Clipping, and Adam-family betas / epsilon in the torch probe's spelling (``betas``, ``eps``)."""
    extra: dict[str, Any] = {"clipnorm": _float(getattr(optimizer, "clipnorm", None)),
                             "clipvalue": _float(getattr(optimizer, "clipvalue", None))}
    b1, b2 = _float(getattr(optimizer, "beta_1", None)), _float(getattr(optimizer, "beta_2", None))
    if b1 is not None and b2 is not None:
        extra["betas"] = [b1, b2]
    eps = _float(getattr(optimizer, "epsilon", None))
    if eps is not None:
        extra["eps"] = eps
    return extra


def current_lr(optimizer: Any) -> float | None:
    """The learning rate in force now (schedules evaluated at the current iteration)."""
    try:
        lr = optimizer.learning_rate
        return _float(getattr(lr, "value", lr))
    except Exception:
        return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(getattr(value, "value", value))
    except (TypeError, ValueError, AttributeError):
        return None


def to_numpy(value: Any) -> np.ndarray:
    """A tensor or Keras variable as a numpy array (a copy), on any backend."""
    value = getattr(value, "value", value)
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy().copy()
    import keras

    return np.array(keras.ops.convert_to_numpy(value), copy=True)


def first_array(value: Any) -> np.ndarray | None:
    """The first array of ``x`` or ``y`` (an array, a tensor, or a list/dict of them) as numpy, or None."""
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    elif isinstance(value, (list, tuple)) and value and not np.isscalar(value[0]):
        value = value[0]
    if value is None or not hasattr(value, "shape") or not hasattr(value, "__getitem__"):
        return None
    if len(getattr(value, "shape", ())) == 0:
        return None
    return value  # type: ignore[return-value]


def sample_rows(value: Any, limit: int = DATA_SAMPLE_ROWS) -> np.ndarray:
    """At most ``limit`` rows of an array-like, evenly spread, as a numpy array (no RNG is touched)."""
    n = int(value.shape[0])
    idx = np.arange(n) if n <= limit else np.linspace(0, n - 1, limit).astype(np.int64)
    if isinstance(value, np.ndarray):
        return value[idx]
    import keras

    return to_numpy(keras.ops.take(value, idx, axis=0))


def data_info(x: Any, y: Any) -> DataInfo | None:
    """Shape and range of the arrays passed to ``fit`` (a spread sample of their rows)."""
    xa, ya = first_array(x), first_array(y)
    if xa is None:
        return None
    info = DataInfo()
    xs = sample_rows(xa)
    info.x_shape = tuple(int(d) for d in xa.shape)
    info.x_is_float = bool(np.issubdtype(xs.dtype, np.floating))
    xf = xs.astype(np.float64, copy=False)
    finite = np.isfinite(xf)
    info.x_nonfinite = int(xf.size - finite.sum())
    if finite.any():
        vals = xf[finite]
        info.x_min, info.x_max = float(vals.min()), float(vals.max())
        info.x_mean, info.x_std = float(vals.mean()), float(vals.std())
    if xf.ndim == 2 and xf.shape[0] > 1 and finite.all():
        info.x_feature_scale_ratio, info.x_continuous_scale_ratio = sm.feature_scale_ratios(xf)
    if ya is not None:
        ys = sample_rows(ya)
        _fill_targets(info, ys)
        info.y_in_input = input_holding_targets(x, ys)
    return info


def input_holding_targets(x: Any, ys: np.ndarray) -> str | None:
    """The name of a decoder input of ``fit`` (a dict key with "decoder" in it, keras-io's
    ``decoder_inputs``) whose integer tokens are the targets ``ys`` (a sample of their rows) at their own
    positions, padding (0) left out: a decoder fed its unshifted targets. An input of another name may be
    shifted inside the model (``torch_model_facts.DECODER_INPUT``)."""
    named = [(k, v) for k, v in x.items() if "decoder" in str(k).lower()] if isinstance(x, dict) else []
    labels = np.squeeze(ys, -1) if ys.ndim == 3 and ys.shape[-1] == 1 else ys
    if not named or labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        return None
    scored = labels != 0
    values = labels[scored]
    if values.size < sm.ALIGNED_MIN_POSITIONS or np.bincount(values.clip(0)).max() >= (
            sm.DIVERSE_TARGET_SHARE * values.size):
        return None  # too few scored positions, or a constant that happens to equal most labels
    for name, value in named:
        shape = getattr(value, "shape", None)
        if shape is None or tuple(int(d) for d in shape[1:]) != labels.shape[1:]:
            continue
        tokens = sample_rows(value)
        if not np.issubdtype(tokens.dtype, np.integer) or tokens.shape != labels.shape:
            continue
        if float((tokens[scored] == values).mean()) >= sm.ALIGNED_SHARE:
            return str(name)
    return None


def _fill_targets(info: DataInfo, ys: np.ndarray) -> None:
    info.y_shape = tuple(int(d) for d in ys.shape)
    yf = ys.astype(np.float64, copy=False)
    finite = np.isfinite(yf)
    info.y_nonfinite = int(yf.size - finite.sum())
    if not finite.any():
        return
    vals = yf[finite]
    info.y_min, info.y_max = float(vals.min()), float(vals.max())
    info.y_std = float(vals.std())
    info.y_is_integer = bool(np.all(vals == np.round(vals)))
    info.y_bce_floor = sm.soft_target_entropy(vals)
    binary = bool(np.isin(vals, (0.0, 1.0)).all())
    if yf.ndim >= 2 and yf.shape[-1] > 1 and binary and finite.all():  # (N, C), or (N, T, C) per time step
        sums = yf.sum(axis=-1)
        info.y_is_one_hot = bool(np.all(sums == 1))
        info.y_is_multi_hot = bool(not info.y_is_one_hot and np.any(sums > 1))
        info.n_classes = int(yf.shape[-1])
        if info.y_is_one_hot:
            info.y_prior_entropy = sm.prior_entropy(yf.reshape(-1, yf.shape[-1]).sum(axis=0))
    else:
        info.y_is_one_hot = False
        info.y_is_multi_hot = False
        if info.y_is_integer and info.y_min >= 0 and info.y_max < 10_000:
            info.n_classes = max(2, int(info.y_max) + 1)
            info.y_prior_entropy = sm.prior_entropy(np.bincount(vals.astype(np.int64)))


def _task(model: ModelInfo) -> str | None:
    loss = model.loss.name if model.loss else None
    out = model.output_layer
    data = model.data
    if loss == "binary_crossentropy":
        return "multilabel" if out is not None and (out.units or 1) > 1 else "binary"
    if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return "multiclass"
    if data is not None and data.y_is_one_hot:
        return "multiclass"
    if data is not None and data.y_is_integer is False:
        return "regression"
    return None


def model_info(model: Any, x: Any = None, y: Any = None, batch_size: int | None = None,
               steps_per_epoch: int | None = None) -> ModelInfo:
    """Everything the diagnosis needs to know about a compiled Keras model and its data."""
    info = ModelInfo(framework="keras")
    info.layers = [layer_info(i, layer) for i, layer in enumerate(model.layers)]
    for index in _output_layer_indices(model):
        info.layers[index].extra["model_output"] = True
    info.loss = loss_info(getattr(model, "loss", None))
    if info.loss is not None and info.loss.name != "custom" and not _regularized(model):
        info.extra["loss_plain"] = True  # the logged loss is the compiled loss function's mean, nothing added
    info.optimizer = optimizer_info(getattr(model, "optimizer", None))
    if x is not None:
        info.data = data_info(x, y)
    info.batch_size = batch_size
    info.steps_per_epoch = steps_per_epoch
    info.task = _task(info)
    import keras

    info.extra["keras_backend"] = keras.backend.backend()
    info.extra["keras_version"] = keras.__version__
    info.extra["model"] = getattr(model, "name", None)  # named in a run of several models
    if _custom_train_step(model):
        info.extra["custom_train_step"] = True  # its own step decides which variables it trains
    return info


def _custom_train_step(model: Any) -> bool:
    """Whether the model's class (not Keras) defines the ``train_step`` that ``fit`` runs."""
    for cls in type(model).__mro__:
        if "train_step" in vars(cls):
            return not cls.__module__.startswith("keras.")
    return False
