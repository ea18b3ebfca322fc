"""Mixed precision under ``torch.amp.GradScaler``: the loss recorded in its own units, and a skipped step
judged.

``GradScaler.scale`` multiplies the loss by the scale factor (a power of two that the scaler halves after an
overflow and doubles after a run of clean steps); the loss curve and the first loss must be in the loss
function's units, so the loss it scaled is recorded unscaled. ``GradScaler.step`` skips the update when the
gradients overflowed (by design in the first steps): normal, never checked, unless the scale has fallen
below 1 (the gradients overflow even unscaled, as they will at every scale), when the skipped step is checked
and replayed like any other.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from deeplocalize.compat import CompatError
from deeplocalize.compat import torch as compat

if TYPE_CHECKING:
    from deeplocalize.probes.torch_session import TorchSession


class GradScalerWatch:
    """The session's view of ``torch.amp.GradScaler`` (wrapped while the session is installed)."""

    def __init__(self, session: TorchSession) -> None:
        self.session = session
        #: the last loss a GradScaler scaled: (the scaled tensor, weakly; the loss before it was scaled)
        self.scaled: tuple[weakref.ref[torch.Tensor], torch.Tensor] | None = None

    def install(self, patch: compat.Patch) -> None:
        scaler = getattr(getattr(torch, "amp", None), "GradScaler", None)
        if scaler is None:
            return
        try:
            patch.replace(scaler, "scale", self._wrap_scale)
            patch.replace(scaler, "step", self._wrap_scaler_step)
        except CompatError as exc:
            self.session.monitor.tool_error("torch probe grad scaler", exc)

    def unscaled(self, loss: torch.Tensor | None) -> torch.Tensor | None:
        """``loss`` in the loss function's units when it is the tensor the scaler last scaled."""
        scaled, self.scaled = self.scaled, None
        if scaled is not None and scaled[0]() is loss:
            return scaled[1]
        return loss

    def _wrap_scale(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``GradScaler.scale`` wrapped: the loss it multiplies by the scale factor (a power of two that the
        scaler halves after an overflow and doubles after a run of clean steps) is recorded unscaled, so the
        loss curve and the first loss are in the loss function's units. A step the scaler skips (inf/NaN
        gradients, by design in its first steps) never calls ``optimizer.step()``, so it is never checked."""
        session = self.session

        @functools.wraps(original)
        def scale(scaler: Any, outputs: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(scaler, outputs, *args, **kwargs)
            if session.live and isinstance(outputs, torch.Tensor) and isinstance(result, torch.Tensor) \
                    and result is not outputs:
                self.scaled = (weakref.ref(result), outputs.detach())
            return result

        return scale

    def _wrap_scaler_step(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``GradScaler.step`` wrapped: a step it skips (its gradients overflowed) is normal, unless the
        scale has fallen below 1 (the gradients overflow even unscaled: they will at every scale). That
        skipped step is then checked like any other, so its replay finds the layer that overflows."""
        session = self.session

        @functools.wraps(original)
        def step(scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            before = session.opt_steps
            result = original(scaler, optimizer, *args, **kwargs)
            if session.live and session.opt_steps == before:  # skipped: optimizer.step() never ran
                session.guard("grad scaler", self.on_skipped, optimizer, scaler)
            return result

        return step

    def on_skipped(self, opt: torch.optim.Optimizer, scaler: Any) -> None:
        scale = float(scaler.get_scale())  # one host read, on a skipped step only
        if scale >= 1.0:
            return
        session = self.session
        unit = session.unit_for_optimizer(opt)
        if unit is None or unit.state is None:
            return
        unit.before_update(opt, session.losses.take())
        for finding in unit.monitor.findings:
            if finding.step == unit.state.step and "grad_scaler_scale" not in finding.evidence:
                finding.evidence["grad_scaler_scale"] = scale
                finding.message += (f"; GradScaler skipped this step and its scale fell to {scale:g}: the "
                                    "gradients overflow float16 even unscaled")
        session.apply_policy(unit, before_update=True)
        session.end_unit(unit)
