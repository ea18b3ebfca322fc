"""The layers of one watched torch model: which modules they are, their names, their forward-order indices.

A layer is a leaf module, or a module other than the root that owns parameters itself
(``nn.MultiheadAttention`` counts as one layer with ``out_proj``'s parameters, which it applies
functionally). Names are the qualified
names of ``named_modules()`` (DESIGN layer identity); an index is given at the layer's first observed
training forward (statistics steps and replays, where hooks run), so indices follow the forward order.
Loss modules and Keras layers (the Keras probe's) are never layers. ``refresh`` follows a model whose layers
were replaced: a new module gets a new slot (a new history), a removed one is dropped.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from deeplocalize.probes import torch_facts as facts


@dataclass(eq=False)
class LayerSlot:
    """One layer of the model (identity semantics: one slot per module)."""

    module: nn.Module
    name: str
    activation: str | None
    recurse: bool = False  # its parameters include its children's (MultiheadAttention's out_proj)
    index: int | None = None
    output_shape: tuple[int, ...] | None = None
    unit_axis: int | None = None
    explicit: list[torch.Tensor] | None = None  # parameters given by the caller (Keras layers)
    #: the self-attention it runs lets a query attend later keys (no causal mask); None: not seen
    sees_later_keys: bool | None = None
    #: the largest weight a head of that self-attention put on the key after each query, over the run
    next_key_weight: float | None = None

    def params(self) -> list[torch.Tensor]:
        """The layer's parameters, looked up now (a model moved to another device is followed)."""
        if self.explicit is not None:
            return self.explicit
        return list(self.module.parameters(recurse=self.recurse))


def is_keras_module(module: nn.Module) -> bool:
    """True for Keras layers/models (torch modules under the torch backend): the Keras probe handles them."""
    return _keras_types.setdefault(type(module), any(
        c.__module__.split(".")[0] == "keras" for c in type(module).__mro__))


_keras_types: dict[type, bool] = {}


def is_keras_model(module: nn.Module) -> bool:
    """A Keras model (a Keras module listing its layers in ``.layers``), under the torch backend."""
    return is_keras_module(module) and isinstance(getattr(module, "layers", None), list)


def model_name(module: nn.Module) -> str:
    """A model's name in reports: a Keras model's own (``generator``), else its class's (``Sequential``)."""
    name = getattr(module, "name", None) if is_keras_model(module) else None
    return name if isinstance(name, str) and name else type(module).__name__


def keras_model_in_own_loop(module: nn.Module, args: Any) -> bool:
    """A Keras model (torch backend) trained by a loop of the script's own (``train_on_batch`` too, which may
    pass it numpy arrays): not inside a ``Model.fit`` (whose callback watches it), not one of Keras's
    symbolic calls (on the ``meta`` device, or on ``KerasTensor``s while a model that holds it is built)."""
    from keras import KerasTensor

    from deeplocalize.probes.keras import fitting
    from deeplocalize.probes.torch_hooks import iter_instances, iter_tensors

    if not is_keras_model(module) or fitting() or next(iter_instances(args, KerasTensor), None) is not None:
        return False
    return not any(t.device.type == "meta" for t in iter_tensors(args))


def keras_slots(model: nn.Module, activations: dict[int, str | None] | None = None,
                unit_axes: dict[int, int | None] | None = None) -> list[LayerSlot]:
    """One slot per entry of a Keras model's ``model.layers`` (index = position, name = ``layer.name``, the
    Keras layer identity), with its trainable weights as its parameters. ``activations``/``unit_axes`` by
    index (default: read from each layer by ``keras_facts``)."""
    if activations is None or unit_axes is None:
        from deeplocalize.probes import keras_facts

        infos = [keras_facts.layer_info(i, layer) for i, layer in enumerate(model.layers)]
        activations = {info.index: info.activation for info in infos}
        unit_axes = {info.index: info.unit_axis for info in infos}
    return [LayerSlot(layer, layer.name, activations.get(i), index=i, unit_axis=unit_axes.get(i),
                      explicit=[v.value for v in layer.trainable_weights])
            for i, layer in enumerate(model.layers)]


def is_layer(module: nn.Module, root: nn.Module) -> bool:
    if facts.is_loss_module(module) or is_keras_module(module):
        return False
    leaf = next(iter(module.children()), None) is None
    owns = module is not root and next(iter(module.parameters(recurse=False)), None) is not None
    return leaf or owns or isinstance(module, nn.MultiheadAttention)


#: Layer class names that draw random numbers while training (dropout variants, noise layers, RReLU).
_RANDOM = re.compile(r"dropout|noise|rrelu|drop_?path|stochastic", re.I)


def _float_attr(module: nn.Module, name: str) -> float:
    value = getattr(module, name, 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def _inside_attention(name: str, attention_names: list[str]) -> bool:
    return any(name.startswith(prefix + ".") for prefix in attention_names)


@dataclass
class LayerTable:
    """Every layer of one model (``root``), its slot by module, and the owner of each parameter."""

    root: nn.Module
    prefix: str = ""  # prepended to names (a part of a larger model: "generator.")
    slots: dict[nn.Module, LayerSlot] = field(default_factory=dict)
    _next_index: int = 0
    _ordered: list[LayerSlot] | None = None
    _owner: dict[int, LayerSlot] | None = None
    #: the number of modules under the root when last scanned (a cheap "did the model change?" test)
    _size: int = -1

    fixed: bool = False  # the layers were given (``of_layers``): never re-scanned
    _random: bool | None = None

    def __post_init__(self) -> None:
        if not self.fixed:
            self.refresh()

    @classmethod
    def of_layers(cls, root: nn.Module, layers: list[LayerSlot]) -> LayerTable:
        """A table of given layers with fixed indices (the Keras path: ``model.layers`` order)."""
        table = cls(root, fixed=True)
        table.slots = {slot.module: slot for slot in layers}
        table._next_index = 1 + max((s.index for s in layers if s.index is not None), default=-1)
        return table

    def refresh(self) -> bool:
        """Re-scan the root's modules; True when layers were added or removed since the last scan."""
        if self.fixed:
            return False
        modules = list(self.root.named_modules())
        if len(modules) == self._size and all(m in self.slots or not is_layer(m, self.root)
                                              for _, m in modules):
            return False
        self._size = len(modules)
        attention = [name for name, m in modules if isinstance(m, nn.MultiheadAttention)]
        seen: set[nn.Module] = set()
        changed = False
        for name, module in modules:
            if not is_layer(module, self.root) or _inside_attention(name, attention):
                continue
            seen.add(module)
            slot = self.slots.get(module)
            name = self.prefix + name if name else self.prefix.rstrip(".") or type(module).__name__
            if slot is None:
                self.slots[module] = LayerSlot(module, name,
                                               facts.activation_of(module),
                                               recurse=isinstance(module, nn.MultiheadAttention))
                changed = True
            elif slot.name != name:
                slot.name = name
        for module in [m for m in self.slots if m not in seen]:
            del self.slots[module]  # replaced or removed: its history ends with it
            changed = True
        if changed:
            self._ordered = self._owner = self._random = None
        return changed

    def random(self) -> bool:
        """The model has a layer that draws random numbers in training (dropout and its kin): a replay must
        restore the generator's state. (Cached with the scan; a functional ``F.dropout`` is not seen, and a
        replay of such a model may then not reproduce the step, which its finding says.)"""
        if self._random is None:
            self._random = any(_RANDOM.search(type(m).__name__) or _float_attr(m, "dropout") > 0
                               for m in self.slots)
        return self._random

    def index(self, slot: LayerSlot) -> bool:
        """Give ``slot`` the next forward-order index if it has none; True when it was new."""
        if slot.index is not None:
            return False
        slot.index = self._next_index
        self._next_index += 1
        self._ordered = None
        return True

    def ordered(self) -> list[LayerSlot]:
        """Layers with an index, in forward order."""
        if self._ordered is None:
            self._ordered = sorted((s for s in self.slots.values() if s.index is not None),
                                   key=lambda s: s.index)  # type: ignore[arg-type, return-value]
        return self._ordered

    def owner(self, param: torch.Tensor) -> LayerSlot | None:
        """The layer a parameter belongs to (None for parameters of no layer, e.g. a root's own)."""
        if self._owner is None:
            self._owner = {id(p): slot for slot in self.slots.values() for p in slot.params()}
        return self._owner.get(id(param))

    def parameters(self) -> Iterator[tuple[LayerSlot, torch.Tensor]]:
        """(layer, parameter) for every parameter of every indexed layer, in forward order."""
        for slot in self.ordered():
            for p in slot.params():
                yield slot, p


class ModuleSet:
    """A weak set of modules with a fast membership test (models the session knows)."""

    def __init__(self) -> None:
        self._refs: weakref.WeakKeyDictionary[nn.Module, None] = weakref.WeakKeyDictionary()

    def add(self, module: nn.Module) -> None:
        self._refs[module] = None

    def __contains__(self, module: object) -> bool:
        return module in self._refs

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(list(self._refs))


def trainable(module: nn.Module) -> bool:
    """The module has a parameter that requires a gradient."""
    return any(p.requires_grad for p in module.parameters())


def owner_of(root: nn.Module, params: list[torch.Tensor]) -> tuple[str, nn.Module]:
    """The deepest module under ``root`` holding every parameter in ``params``, with its qualified name."""
    wanted = {id(p) for p in params}
    best: tuple[str, nn.Module] = ("", root)
    for name, module in root.named_modules():
        if name and wanted <= {id(p) for p in module.parameters()} and len(name) > len(best[0]):
            best = (name, module)
    return best
