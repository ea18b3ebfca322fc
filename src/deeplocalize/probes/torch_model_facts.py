"""What one watched torch model has shown about itself so far: its data, loss, task, optimizers, initial
weights, output values, precision and the scale of its loss — the facts the detectors read as ``ModelInfo``.

Facts are read once (the first batch, the first loss call, each new optimizer) or on statistics steps;
``dirty`` says they changed since the monitor last received them.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deeplocalize import summary as sm
from deeplocalize.model import DataInfo, LayerInfo, LossInfo, ModelInfo
from deeplocalize.probes import torch_facts as facts
from deeplocalize.probes.torch_bare import Tensor as BareTensor
from deeplocalize.probes.torch_grad_reset import GradResetWatch
from deeplocalize.probes.torch_layers import LayerSlot, LayerTable, is_keras_module
from deeplocalize.vocabulary import Channel

#: A loss read as summed over its elements or divided for gradient accumulation matches the ratio within
#: this relative tolerance (float rounding of a sum; own choice).
SCALE_TOLERANCE = 0.02
#: Most gradient-accumulation steps recognized as a divided loss (own choice).
MAX_ACCUMULATION = 1024
#: An update is read for the layer's gain (update per gradient) only when it is this many float32 spacings
#: of the weights (``||update|| > CLEAR_OF_ROUNDING * eps * ||w||``): a smaller one is partly rounded away.
CLEAR_OF_ROUNDING = 16
#: The kept gain of a layer is renewed (and the facts sent again) when it moves by more than this factor.
GAIN_CHANGE = 1.25
#: A model is ``self_fed`` once, after this many steps, it ran as many forwards in training mode without
#: gradients as it took steps (own choice: a DQN's action choice comes before every step, a PPO-style rollout
#: of many forwards before a few minibatch steps; an evaluation without ``model.eval()`` once an epoch runs
#: far fewer batches than the epoch trains on).
SELF_FED_MIN_STEPS = 20
#: The label prior's entropy (the chance level of a cross-entropy) is counted over the first batches until
#: this many labels per class have been seen (the Miller-Madow correction is then within a few percent),
#: or ``PRIOR_MAX_BATCHES`` batches: counted on the device, read at the statistics steps among them (the
#: start of the run only). Own choice.
PRIOR_LABELS_PER_CLASS = 20
PRIOR_MAX_BATCHES = 64


@dataclass
class LossScale:
    """How the loss that training backpropagates relates to the loss function's per-element mean, read once,
    at the first step: a loss summed over the batch (``reduction="sum"``, or ``"none"`` then ``.sum()``) is
    the mean times its element count, a loss summed over each sample's elements and averaged over the batch
    (a VAE's ``reduction="sum"`` divided by the batch size) the mean times the elements per sample, a loss
    divided by n for gradient accumulation the mean over n. The chance level and the expected first loss
    scale with it."""

    #: the first step's loss calls: per-element means of what each loss function returned, with their
    #: element and sample counts; None once read
    means: list[tuple[torch.Tensor, int, int] | None] | None = field(default_factory=list)
    scale: float | None = None  # the ratio, when it is a sum or a division
    plain: bool = False  # the trained loss is the loss function's (or its scale), nothing added

    @property
    def pending(self) -> bool:
        return self.means is not None

    def note(self, mean: torch.Tensor | None, count: int, rows: int = 1) -> None:
        """A loss function's per-element mean loss over ``count`` elements of ``rows`` samples, at the first
        step."""
        if self.means is not None:
            self.means.append(None if mean is None else (mean, count, rows))

    def read(self, losses: list[torch.Tensor]) -> None:
        """Judge the scale from the step's backpropagated ``losses``: only when one loss function made the one
        loss, and only for the two ratios above (a regularizer added to the loss is not a scale)."""
        means, self.means = self.means, None
        if not means or len(means) != 1 or means[0] is None or len(losses) != 1 or losses[0].numel() != 1:
            return
        mean, count, rows = means[0]
        ratio = float(losses[0].detach().float() / mean)
        if not math.isfinite(ratio) or ratio <= 0:
            return
        summed = any(n > 1 and abs(ratio - n) <= SCALE_TOLERANCE * n
                     for n in (count, count / rows if rows > 1 else 0))
        parts = round(1 / ratio)
        divided = 2 <= parts <= MAX_ACCUMULATION and abs(ratio * parts - 1) <= SCALE_TOLERANCE
        if summed or divided:
            self.scale = ratio
        self.plain = summed or divided or abs(ratio - 1) <= SCALE_TOLERANCE


@dataclass
class ModelFacts:
    """The facts of one model seen so far (see the module docstring)."""

    name: str
    loss_info: LossInfo | None = None
    data: DataInfo = field(default_factory=DataInfo)
    task: str | None = None
    output_values: dict[str, Any] | None = None
    loss_shapes: list[list[int]] | None = None  # [outputs, targets] as the loss first received them
    optimizers: dict[int, Any] = field(default_factory=dict)  # id(optimizer) -> OptimizerInfo
    _optimizers_seen: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    initial: dict[LayerSlot, dict[str, Any]] | None = None  # the kernels before the first update
    #: trainable layers none of whose parameters had a gradient at the last statistics step
    gradless: set[LayerSlot] = field(default_factory=set)
    #: of those, the ones none of whose parameters is in an optimizer's parameter groups: a fixed part (a
    #: teacher, a target network run under torch.no_grad()), not one cut from the loss by mistake
    unstepped: set[LayerSlot] = field(default_factory=set)
    #: a copy loaded with its live weights runs during its steps: its loss chases its own targets (DQN)
    target_network: bool = False
    #: it runs in training mode without gradients at least once a step: its own outputs make its data or
    #: its targets (a policy's rollouts, TD targets bootstrapped without a target network: ``stepped``)
    self_fed: bool = False
    no_grad_calls: int = 0  # such forwards so far
    _steps: int = 0
    copies: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)  # copies watched (torch_target_net)
    #: layer index -> its last gain clear of rounding: ||update|| / ||gradient|| at a statistics step
    update_gain: dict[int, float] = field(default_factory=dict)
    #: trained against another model (a GAN): its loss is not meant to go down
    adversarial: bool = False
    #: its optimizer was built on another copy of it: it steps none of this model's parameters
    stale_optimizer: bool = False
    #: are its gradients reset between steps? (``torch_grad_reset``)
    grad_reset: GradResetWatch = field(default_factory=GradResetWatch)
    autocast: str | None = None  # the dtype of the autocast region its forward ran in, if any
    loss_scale: LossScale = field(default_factory=LossScale)
    x_seen: bool = False
    y_seen: bool = False
    dirty: bool = True
    #: the first input while it waits for the first targets, if it is a batch of token ids
    _token_ids: torch.Tensor | None = None
    #: that forward's decoder inputs, by name (``decoder_token_inputs``)
    _decoder_ids: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    #: the class counts of the batches seen so far (on the targets' device), while the prior's entropy is
    #: still being refined
    _label_counts: torch.Tensor | None = None
    _label_batches: int = 1

    def saw_input(self, x: torch.Tensor, inputs: tuple[tuple, dict]) -> None:
        """The model's first input ``x`` of a forward called with ``inputs`` (args, kwargs): the first one's
        facts; until the first targets are seen, the latest token-id inputs (the targets are compared with
        the inputs of their own step)."""
        if not self.x_seen:
            self.x_seen = self.dirty = True
            facts.x_facts(x, self.data)
        if not self.y_seen:
            self._token_ids = x if is_token_ids(x) else None
            self._decoder_ids = decoder_token_inputs(inputs)

    def stepped(self) -> None:
        """A step of the model: after ``SELF_FED_MIN_STEPS`` steps, it is ``self_fed`` if it ran forwards
        without gradients (in training mode) at least as often as it stepped."""
        self._steps += 1
        if not self.self_fed and self._steps >= SELF_FED_MIN_STEPS and self.no_grad_calls >= self._steps:
            self.self_fed = self.dirty = True

    def saw_autocast(self, dtype: torch.dtype) -> None:
        if self.autocast is None:
            self.autocast = str(dtype).removeprefix("torch.")
            self.dirty = True

    def saw_optimizer(self, opt: torch.optim.Optimizer) -> None:
        if opt not in self._optimizers_seen:  # (not by id(): a new optimizer may reuse a freed one's)
            self._optimizers_seen.add(opt)
            own = getattr(opt, "optimizer_info", None)  # a Keras optimizer (``torch_keras_optimizer``)
            self.optimizers[id(opt)] = (own() if own is not None else None) or facts.optimizer_info(opt)
            self.dirty = True

    def saw_loss(self, info: LossInfo, pred: torch.Tensor | None, target: torch.Tensor,
                 ignore_index: int, read: bool = True) -> None:
        """A loss function received ``pred`` (this model's output) and ``target``; ``read``: host reads are
        allowed (a statistics step)."""
        if self.loss_info is None:
            self.loss_info = info
            self.dirty = True
        if pred is not None and self.output_values is None:
            self.output_values = facts.output_value_facts(pred)
            self.loss_shapes = [list(pred.shape), list(target.shape)]
            self.dirty = True
        if self._label_counts is not None:
            self._more_labels(self._label_counts, target, ignore_index, read)
        if not self.y_seen:
            self.y_seen = self.dirty = True
            counts = facts.y_facts(target, self.data, ignore_index)
            self.task, self.data.n_classes = facts.infer_task(info, pred, self.data)
            if self._token_ids is not None and info.name in ("cross_entropy", "nll"):
                self.data.y_from_x = facts.target_alignment(self._token_ids, target, ignore_index)
            if info.name in ("cross_entropy", "nll"):
                self.data.y_in_input = input_holding_targets(self._decoder_ids, target, ignore_index)
            self._token_ids, self._decoder_ids = None, []
            classes = max(len(counts), self.data.n_classes or 0) if counts is not None else 0
            if classes and counts.sum() < PRIOR_LABELS_PER_CLASS * classes:
                self._label_counts = torch.zeros(classes, device=target.device)  # (float32: exact here)
                self._label_counts[:len(counts)] = torch.as_tensor(counts, dtype=torch.float32)

    def _more_labels(self, counts: torch.Tensor, target: torch.Tensor, ignore_index: int, read: bool) -> None:
        """One more batch's class counts for the prior's entropy (a first batch of 32 labels of 27 classes
        puts it far below the truth, bias correction and all), added on the device; read at statistics
        steps, until ``PRIOR_LABELS_PER_CLASS`` labels per class or ``PRIOR_MAX_BATCHES`` batches (then
        nothing more is added, however long the next statistics step is in coming)."""
        full = self._label_batches >= PRIOR_MAX_BATCHES  # enough counted: only the read is left
        one_hot = bool(self.data.y_is_one_hot)
        if not full and not facts.add_class_counts(counts, target, one_hot, ignore_index):
            self._label_counts = None
            return
        if not full:
            self._label_batches += 1
        if not read:
            return
        kept = counts.cpu().numpy()
        self.data.y_prior_entropy = sm.prior_entropy(kept)
        self.dirty = True
        if kept.sum() >= PRIOR_LABELS_PER_CLASS * len(kept) or self._label_batches >= PRIOR_MAX_BATCHES:
            self._label_counts = None

    def read_initial(self, table: LayerTable) -> None:
        """The kernels' facts before the first update (once, when the layers are known)."""
        if self.initial is None and table.ordered():
            self.initial = {s: f for s in table.ordered()
                            if (f := facts.initial_weight_facts(s.module)) is not None}
            self.dirty = True

    def read_loss_scale(self, losses: list[torch.Tensor]) -> None:
        if self.loss_scale.pending:
            self.loss_scale.read(losses)
            self.dirty = True

    def set_gradless(self, gradless: set[LayerSlot], table: LayerTable) -> None:
        """The trainable layers without a gradient at this statistics step, and which of them no optimizer
        seen so far holds (when one was seen)."""
        unstepped: set[LayerSlot] = set()
        groups = [getattr(opt, "param_groups", None) for opt in self._optimizers_seen] if gradless else []
        if groups and all(isinstance(g, list) for g in groups):  # else which parameters they hold is unknown
            stepped = {id(p) for g in groups for group in g for p in group.get("params", ())}
            unstepped = set(gradless) - {slot for slot, p in table.parameters() if id(p) in stepped}
        if gradless != self.gradless or unstepped != self.unstepped:
            self.gradless, self.unstepped = gradless, unstepped
            self.dirty = True

    def saw_updates(self, stats: dict[tuple[int, Channel], np.ndarray]) -> None:
        """A statistics step's updates: keep each layer's gain (update per gradient) when its update was
        clear of float rounding, so that a layer whose later updates round away (converged to float
        precision) can be told from one that no optimizer steps."""
        eps = sm.EPSILON["float32"]  # the finest dtype (a bf16 update is a multiple of its own spacing)
        for (index, channel), update in stats.items():
            grad, weights = stats.get((index, Channel.WEIGHT_GRAD)), stats.get((index, Channel.WEIGHTS))
            if channel != Channel.UPDATE or grad is None or weights is None:
                continue
            u, g, w = float(update[sm.NORM]), float(grad[sm.NORM]), float(weights[sm.NORM])
            if not (g > 0 and u > CLEAR_OF_ROUNDING * eps * w and math.isfinite(u / g)):
                continue
            old = self.update_gain.get(index)
            if old is None or not 1 / GAIN_CHANGE <= (u / g) / old <= GAIN_CHANGE:
                self.update_gain[index] = u / g
                self.dirty = True

    def model_info(self, table: LayerTable) -> ModelInfo:
        """The facts as the detectors read them."""
        layers = [_layer_info(s) for s in table.ordered() if s.index is not None]
        for slot, layer in zip(table.ordered(), layers, strict=True):
            init = (self.initial or {}).get(slot)
            if init is not None:
                layer.extra["init"] = init
            if slot in self.gradless:
                layer.extra["no_gradient"] = True
            if slot in self.unstepped:
                layer.extra["not_optimized"] = True
            if layer.index in self.update_gain:
                layer.extra["update_gain"] = self.update_gain[layer.index]
            if slot.sees_later_keys is not None:
                layer.extra["sees_later_keys"] = slot.sees_later_keys
            if slot.next_key_weight is not None:
                layer.extra["next_key_weight"] = slot.next_key_weight
        infos = list(self.optimizers.values())
        info = ModelInfo(framework="torch", layers=layers, loss=self.loss_info,
                         optimizer=infos[0] if infos else None,
                         data=self.data if (self.x_seen or self.y_seen) else None, task=self.task)
        if self.data.x_shape:
            info.batch_size = self.data.x_shape[0]
        extra = {"optimizers": [o.name for o in infos] if len(infos) > 1 else None,
                 "output_values": self.output_values, "loss_shapes": self.loss_shapes, "model": self.name,
                 "adversarial": self.adversarial or None, "target_network": self.target_network or None,
                 "self_fed": self.self_fed or None,
                 "stale_optimizer": self.stale_optimizer or None,
                 "loss_scale": self.loss_scale.scale, "loss_plain": self.loss_scale.plain or None,
                 "autocast": self.autocast or None, "grads_not_reset_from": self.grad_reset.established(),
                 "grads_reset_seen": self.grad_reset.reset_seen or None}
        info.extra.update({k: v for k, v in extra.items() if v is not None})
        return info


def _layer_info(slot: LayerSlot) -> LayerInfo:
    """A layer's facts: from its module's type, or for a Keras layer (a Keras model trained by a loop of the
    script's own, under the torch backend) from the layer's own configuration (its fused activation)."""
    if not is_keras_module(slot.module):
        info = facts.layer_info(slot.index, slot.name, slot.module, slot.output_shape, slot.unit_axis,
                                slot.params())
        if isinstance(slot.module, BareTensor) and slot.explicit:  # a tensor trained by hand: its shape
            info.extra["tensor_shape"] = list(slot.explicit[0].shape)
        return info
    from deeplocalize.probes import keras_facts

    info = keras_facts.layer_info(int(slot.index or 0), slot.module)
    info.name = slot.name
    info.output_shape = slot.output_shape or info.output_shape
    params = slot.params()
    if params:
        info.extra["param_dtype"] = str(params[0].dtype).removeprefix("torch.")
    return info


#: A model's own decoder inputs, by the keyword of the APIs that use them as given: Hugging Face's
#: encoder-decoders shift only ``labels`` that come alone, never ``decoder_input_ids``. A model of one's own
#: called as ``model(src, tgt)`` may shift ``tgt`` inside its ``forward`` (teacher forcing one step
#: behind), so a positional input holding the targets proves nothing.
DECODER_INPUT = "decoder_input"


def is_token_ids(x: torch.Tensor) -> bool:
    """A 2-d batch of integer ids."""
    return x.dim() == 2 and not x.is_floating_point() and x.dtype != torch.bool


def decoder_token_inputs(inputs: tuple[tuple, dict]) -> list[tuple[str, torch.Tensor]]:
    """A forward's keyword token-id inputs named as a decoder's (``DECODER_INPUT``)."""
    return [(k, v) for k, v in inputs[1].items() if DECODER_INPUT in k.lower() and isinstance(v, torch.Tensor)
            and v.layout == torch.strided and is_token_ids(v)]


def input_holding_targets(inputs: list[tuple[str, torch.Tensor]], target: torch.Tensor,
                          ignore_index: int) -> str | None:
    """The name of the first decoder input whose token at each scored position is that position's target
    ("same" alignment over many different tokens): the decoder is handed what it must predict."""
    if target.is_floating_point() or not inputs:
        return None
    labels = target.detach().reshape(-1)
    scored = labels[labels != ignore_index]
    top = float(torch.bincount(scored.clamp(min=0)).max()) if scored.numel() else math.inf
    if top >= sm.DIVERSE_TARGET_SHARE * scored.numel():
        return None  # (a constant that happens to equal most labels proves nothing)
    return next((name for name, ids in inputs if facts.target_alignment(ids, target, ignore_index) == "same"),
                None)
