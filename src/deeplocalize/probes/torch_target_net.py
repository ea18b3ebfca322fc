"""A target network: a copy of a watched model that the script loads with the model's own weights and runs
during the model's training steps (DQN's hard update, ``target_net.load_state_dict(net.state_dict())``,
then ``target_net(next_states)`` for the TD targets). The model's loss then chases targets it makes itself:
a TD loss may rise as the values grow, so its loss curve is no sign of learning (``ModelFacts``'s
``target_network``; the monitor then skips the curve detectors, as for a GAN).

A copy that is not run while the model trains is not one: a best-so-far model kept by early stopping
(``best.load_state_dict(model.state_dict())``), a copy evaluated while the model is in eval mode.
``load_state_dict`` is wrapped (it is called rarely); a copy gets one forward hook, removed once it decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from deeplocalize.probes.torch_session import TorchSession
    from deeplocalize.probes.torch_unit import ModelUnit


def wrap_loader(session: TorchSession, original: Callable[..., Any]) -> Callable[..., Any]:
    """``nn.Module.load_state_dict`` that also notes a copy of a watched model's live weights."""

    def load_state_dict(module: nn.Module, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(module, state_dict, *args, **kwargs)
        session.guard("target network", _note_copy, session, module, state_dict)
        return result

    return load_state_dict


def _note_copy(session: TorchSession, module: nn.Module, state_dict: Any) -> None:
    if not isinstance(state_dict, Mapping):
        return
    loaded = {_address(v) for v in state_dict.values()} - {0}
    for unit in session.units:
        if unit.facts.target_network or unit.eager is module or not loaded:
            continue
        if any(_address(p) in loaded for p in unit.eager.parameters()):
            _watch_copy(session, unit, module)


def _address(value: Any) -> int:
    """Where a plain tensor's data lives (0: not a tensor, empty, on the meta device, or a sharded one)."""
    if type(value) not in (torch.Tensor, nn.Parameter) or not value.numel() or value.is_meta:
        return 0
    return int(value.data_ptr())


def _watch_copy(session: TorchSession, unit: ModelUnit, copy: nn.Module) -> None:
    """One forward hook on the copy: run while ``unit`` trains (it has stepped and is in training mode), it is
    a target network (the hook is the session's: removed when it closes)."""
    if copy in unit.facts.copies:
        return
    unit.facts.copies.add(copy)
    handle: list[Any] = []

    def called(module: nn.Module, args: Any, output: Any) -> None:
        if unit.step > 0 and unit.root.training:
            unit.facts.target_network = unit.facts.dirty = True
            for h in handle:
                h.remove()

    handle.append(copy.register_forward_hook(called))
    session.hook_handles.append(handle[0])
