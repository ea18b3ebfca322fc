"""A model made of bare tensors: training with no ``nn.Module`` at all.

From-scratch programs (d2l's "linear regression from scratch", a hand-written logistic regression, a
Keras 3 ``keras.Variable`` model on the torch backend) train leaf tensors with ``requires_grad=True``
directly: ``loss.backward()`` and a hand-written update or an optimizer over ``[w, b]``. There is no module
to hook, but the loss's autograd graph leads to the tensors it trains. When a script's first backward
finds no watched model, the tensors behind that loss become one: a ``BareModel`` whose layers are the
tensors, one each, named after the script's variables (``w``, ``b``; ``params[0]`` inside a list). Its
steps are the optimizer's steps, or each backward when no optimizer steps; it has the fused check, the
statistics of its weights, gradients and updates, and the loss-curve detectors, but no activations (there
are no layer calls to observe) and no replay.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any

import torch
from torch import nn

from deeplocalize.probes.torch_layers import LayerSlot

#: Autograd nodes visited at most when looking for the tensors a loss trains.
MAX_NODES = 20_000
#: Frames of the script (outside torch and deeplocalize) searched for the tensors' variable names.
MAX_FRAMES = 4


class Tensor(nn.Module):
    """Stands for one bare tensor: the module of its layer (its type in reports)."""


class BareModel(nn.Module):
    """The bare tensors one loss trains, as a model with one layer per tensor (never called)."""

    def __init__(self, tensors: list[torch.Tensor], names: list[str]) -> None:
        super().__init__()
        self.tensors = tensors  # a plain list: not registered as parameters (they are not ``Parameter``s)
        self.names = names
        self.placeholders = nn.ModuleList(Tensor() for _ in tensors)  # one module key per layer

    def slots(self) -> list[LayerSlot]:
        """The layers: each tensor, in forward order as far as it is known, under its name."""
        return [LayerSlot(holder, name, None, index=i, explicit=[t]) for i, (holder, t, name)
                in enumerate(zip(self.placeholders, self.tensors, self.names, strict=True))]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a BareModel stands for tensors a script trains directly; it is never called")


def trains_parameters(model: nn.Module) -> bool:
    """A bare model of ``nn.Parameter``s: a module's layers trained through direct calls of their
    ``forward`` (forward-forward training), which no module hook sees; a plain tensor adopted before a
    model was found (an attack's input) is not."""
    return isinstance(model, BareModel) and any(isinstance(t, nn.Parameter) for t in model.tensors)


def trained_leaves(loss: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors with ``requires_grad`` that ``loss``'s graph accumulates gradients into, depth
    first with each node's inputs in order (``x @ w + b``: ``w``, then ``b``)."""
    added: set[int] = set()
    root = loss.grad_fn
    if root is None:
        return []
    out: list[torch.Tensor] = []
    seen: set[int] = set()
    alive: list[Any] = []  # the visited nodes, held: an id is unique only while its object lives (older
    # torch makes a new Python object for a node at each ``next_functions``, freed as soon as it is dropped)
    stack = [root]
    while stack and len(seen) < MAX_NODES:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        alive.append(node)
        variable = getattr(node, "variable", None)  # an AccumulateGrad node: its leaf
        if isinstance(variable, torch.Tensor):
            if id(variable) not in added and variable.requires_grad:
                added.add(id(variable))
                out.append(variable)
            continue
        stack.extend(child for child, _ in reversed(node.next_functions))
    return out


def _script_frames(frame: FrameType | None) -> list[FrameType]:
    """The innermost frames outside torch and deeplocalize (the training script's)."""
    out = []
    while frame is not None and len(out) < MAX_FRAMES:
        path = frame.f_code.co_filename.replace("\\", "/")
        if not any(part in path for part in ("/torch/", "/deeplocalize/", "/keras/", "<frozen")):
            out.append(frame)
        frame = frame.f_back
    return out


def _match(value: Any, wanted: dict[int, int]) -> list[tuple[int, str]]:
    """(tensor position, suffix) for ``value`` or its items that are wanted tensors (a Keras ``Variable``
    stands for its ``.value``)."""
    def one(item: Any) -> int | None:
        if isinstance(item, torch.Tensor):
            return wanted.get(id(item))
        inner = getattr(item, "value", None) if type(item).__module__.startswith("keras") else None
        return wanted.get(id(inner)) if isinstance(inner, torch.Tensor) else None

    found = one(value)
    if found is not None:
        return [(found, "")]
    if isinstance(value, list | tuple) and len(value) <= 64:
        return [(pos, f"[{i}]") for i, item in enumerate(value) if (pos := one(item)) is not None]
    return []


def variable_names(tensors: list[torch.Tensor]) -> list[str]:
    """A name per tensor: the script's variable holding it, else ``tensor_<i>``; unique. Module-level
    names first (a loop variable of the training function, ``for v in (W, b)``, is not the tensor's
    name), then the locals of the innermost script frames (a ``main()`` holding its tensors)."""
    wanted = {id(t): i for i, t in enumerate(tensors)}
    names: list[str | None] = [None] * len(tensors)
    frames = _script_frames(sys._getframe(1))
    scopes = [f.f_globals for f in frames] + [f.f_locals for f in frames]
    for scope in scopes:
        for var, value in list(scope.items()):
            if var.startswith("__") or not var.isidentifier():
                continue
            for pos, suffix in _match(value, wanted):
                if names[pos] is None:
                    names[pos] = var + suffix
        if all(names):
            break
    out: list[str] = []
    for i, name in enumerate(names):
        label = name or f"tensor_{i}"
        out.append(label if label not in out else f"{label}_{i}")
    return out


def inside_keras_fit() -> bool:
    """A Keras ``Model.fit`` (torch backend) runs this backward: its own train step, or one ``instrument``
    watches through the Keras callback."""
    from deeplocalize.probes.keras import fitting

    if fitting():
        return True
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if "keras/src/backend/torch/trainer" in frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.f_back
    return False


def adopt(loss: torch.Tensor, exclude_owners: Iterable[nn.Module] = ()) -> BareModel | None:
    """The tensors ``loss`` trains as a model, in the order a depth-first walk of its graph meets them,
    inputs first: the order of a forward pass written left to right. None when it trains none, or when
    it also reaches a parameter of a module in ``exclude_owners`` (a model the script runs: this loss is
    not a program without one)."""
    leaves = trained_leaves(loss)
    owned = {id(p) for module in exclude_owners for p in module.parameters(recurse=False)}
    if not leaves or any(id(t) in owned for t in leaves):
        return None
    return BareModel(leaves, variable_names(leaves))
