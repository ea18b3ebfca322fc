"""Framework-neutral description of the network being trained and of its training set-up.

Probes fill these from PyTorch or Keras; detectors and the diagnosis read them. numpy-free, stdlib only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerRef:
    """How a finding names a layer in the JSON contract."""

    index: int
    name: str
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "type": self.type}


@dataclass
class LayerInfo:
    """One layer (torch: leaf module; Keras: entry of ``model.layers``).

    ``index`` is the position in forward order (docs/architecture.md, "Layer identity"). ``activation`` is
    the activation the layer applies to its output, lower-case ("relu", "sigmoid", "tanh", "softmax",
    "linear", ...): an activation module (``nn.ReLU``) has its own kind; a Keras ``Dense(...,
    activation="relu")`` has "relu"; a torch ``nn.Linear`` has "linear". ``units`` is the size of the
    feature axis of the output.
    """

    index: int
    name: str
    type: str
    activation: str | None = None
    units: int | None = None
    params: int = 0
    trainable_params: int = 0
    output_shape: tuple[int, ...] | None = None
    unit_axis: int | None = None  # feature axis of the output (torch conv: 1, Keras/Linear: -1)
    kernel_initializer: str | None = None
    bias_initializer: str | None = None
    softmax_axis_size: int | None = None  # for softmax layers: the size of the axis normalized over
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> LayerRef:
        return LayerRef(self.index, self.name, self.type)

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``layers[]`` entry."""
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "activation": self.activation,
            "params": self.params,
        }


@dataclass
class LossInfo:
    """The loss function, as far as it is known.

    ``name`` normalized: "cross_entropy" (torch CrossEntropyLoss / Keras sparse or categorical), "nll",
    "bce" (probabilities in), "bce_logits", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_crossentropy", "mse", "mae", "huber", "kl_div", "custom", ...
    ``expects``: what the loss expects from the model output: "logits", "probabilities", "log_probabilities"
    or "values".
    """

    name: str
    expects: str = "values"
    from_logits: bool | None = None
    framework_name: str | None = None


@dataclass
class OptimizerInfo:
    """The optimizer and its current hyper-parameters."""

    name: str  # "sgd", "adam", "adamw", "rmsprop", ...
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def adaptive(self) -> bool:
        """An Adam-family or RMSprop-like optimizer: it divides each step by a running scale of the
        gradient (sqrt(v) + eps), so its steps do not grow with the gradient."""
        return (self.name or "").lower().startswith(ADAPTIVE_OPTIMIZERS)


#: Optimizer names (lower case, prefixes) that divide by sqrt(v) + eps.
ADAPTIVE_OPTIMIZERS = ("adam", "adamw", "nadam", "adamax", "rmsprop", "adagrad", "adadelta", "radam", "lamb")


@dataclass
class DataInfo:
    """Facts about the training data, from the first batch (or the arrays passed to ``fit``)."""

    x_shape: tuple[int, ...] | None = None
    x_min: float | None = None
    x_max: float | None = None
    x_mean: float | None = None
    x_std: float | None = None
    x_nonfinite: int = 0
    x_feature_scale_ratio: float | None = None  # max / min of per-feature std (features of non-zero std)
    x_continuous_scale_ratio: float | None = None  # the same over continuous features (``summary``)
    x_is_float: bool = True
    y_shape: tuple[int, ...] | None = None
    y_min: float | None = None
    y_std: float | None = None  # of the first batch's targets (the chance level of a squared loss)
    #: entropy (nats) of the first batch's class labels, Miller-Madow corrected: the loss of a classifier
    #: that ignores its input and predicts the class frequencies
    y_prior_entropy: float | None = None
    y_max: float | None = None
    y_is_integer: bool | None = None  # every label an integer value
    y_is_one_hot: bool | None = None  # rows of 0/1 summing to 1
    y_is_multi_hot: bool | None = None  # rows of 0/1, some with several 1s
    #: the lowest binary cross-entropy on soft targets in [0, 1] (``summary.soft_target_entropy``); None for
    #: hard 0/1 targets, whose floor is 0
    y_bce_floor: float | None = None
    y_nonfinite: int = 0
    n_classes: int | None = None
    #: how the first batch's targets line up with the model's input token ids: "next" (each target is the
    #: next input token: next-token prediction), "same" (the token at its own position), None (neither, or
    #: not token ids)
    y_from_x: str | None = None
    #: the name of a decoder input ("decoder_input_ids", Keras "decoder_inputs") whose tokens are the targets
    #: at their own positions: the decoder is handed what it must predict; None when there is none
    y_in_input: str | None = None


@dataclass
class ModelInfo:
    """The network, its loss, optimizer and data, as the probe saw them."""

    framework: str  # "torch" | "keras"
    layers: list[LayerInfo] = field(default_factory=list)
    loss: LossInfo | None = None
    optimizer: OptimizerInfo | None = None
    data: DataInfo | None = None
    task: str | None = None  # "binary", "multiclass", "multilabel", "regression" when known
    batch_size: int | None = None
    steps_per_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def layer(self, index: int) -> LayerInfo | None:
        """The layer with this forward-order index, if known."""
        for layer in self.layers:
            if layer.index == index:
                return layer
        return None

    @property
    def output_layer(self) -> LayerInfo | None:
        """The last layer in forward order."""
        return max(self.layers, key=lambda layer: layer.index) if self.layers else None

    @property
    def of_bare_tensors(self) -> bool:
        """Its layers are tensors a script trains by hand, with no module (torch: layer type "Tensor")."""
        return bool(self.layers) and all(layer.type == "Tensor" for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelInfo:
        """Inverse of ``to_dict`` (used by the store)."""
        raw = dict(raw)
        raw["layers"] = [_layer_from_dict(x) for x in raw.get("layers", [])]
        for key, kind in (("loss", LossInfo), ("optimizer", OptimizerInfo), ("data", DataInfo)):
            if raw.get(key) is not None:
                raw[key] = kind(**_tuples(raw[key]))
        return cls(**raw)


def _layer_from_dict(raw: dict[str, Any]) -> LayerInfo:
    return LayerInfo(**_tuples(raw))


def _tuples(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: (tuple(v) if k.endswith("shape") and v is not None else v) for k, v in raw.items()}
