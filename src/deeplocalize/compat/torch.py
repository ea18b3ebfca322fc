"""PyTorch APIs deeplocalize relies on that are private, patched, or newer than the oldest supported torch.

Supported: torch >= 2.4 (``MIN_VERSION``). Each function names what it uses:
- ``foreach_norm``: ``torch._foreach_norm`` (one fused kernel launch for many tensors);
- ``flatten``: ``torch._utils._flatten_dense_tensors``;
- ``eager_module`` / ``force_eager``: ``nn.DataParallel`` / ``DistributedDataParallel``'s ``.module``,
  ``torch._dynamo``'s ``OptimizedModule`` and
  ``torch.compiler.set_stance`` (torch >= 2.6; older: statistics steps skip compiled models);
- ``Patch``: replacing a module attribute while a session is active (``torch.autograd.backward``, the
  ``torch.nn.functional`` losses, ``torch.optim.Optimizer.__init__``, ``torch.amp.GradScaler.scale``),
  restored on close;
- ``dataloader_iter``: ``torch.utils.data.dataloader._BaseDataLoaderIter`` and its ``_next_index`` (the
  indices of the next batch; with ``--dump-on-fault``);
- ``run_eager``: ``torch.compiler.disable`` (a hook called from compiled code runs as Python, untraced);
- ``quiet_global_hook_warning``: the text of the warning ``torch._dynamo``'s ``OptimizedModule`` gives
  while any global module hook exists, and ``warnings._filters_mutated`` (to take a filter out again).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from deeplocalize.compat import CompatError

MIN_VERSION = (2, 4)


def version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def check_version() -> None:
    """CompatError when torch is older than ``MIN_VERSION``."""
    if version() < MIN_VERSION:
        raise CompatError(f"torch {torch.__version__} is older than the oldest supported "
                          f"{MIN_VERSION[0]}.{MIN_VERSION[1]}")


def foreach_norm(tensors: Sequence[torch.Tensor], dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """L2 norm of each tensor, in as few kernels as the device allows (0-dim tensors)."""
    fn = getattr(torch, "_foreach_norm", None)
    if fn is None:
        return [t.norm(dtype=dtype) if dtype is not None else t.norm() for t in tensors]
    return list(fn(list(tensors), 2, dtype=dtype) if dtype is not None else fn(list(tensors)))


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The tensors flattened and concatenated into one (one kernel where torch offers it)."""
    try:
        from torch._utils import _flatten_dense_tensors
    except ImportError:
        return torch.cat([t.reshape(-1) for t in tensors])
    return _flatten_dense_tensors(list(tensors))


def _imported(*specs: str) -> tuple[type, ...]:
    """The classes ``"module:Class"`` of modules the user has already imported. A model cannot hold an
    instance of a class never imported, and importing ``torch.distributed`` subpackages ourselves costs time
    (torch 2.4 even writes generated source files on import, which fails on a full disk)."""
    out = []
    for spec in specs:
        name, _, cls = spec.partition(":")
        found = getattr(sys.modules.get(name), cls, None)
        if isinstance(found, type):
            out.append(found)
    return tuple(out)


def local(t: torch.Tensor | None) -> torch.Tensor | None:
    """A sharded tensor's local shard (a ``DTensor`` of FSDP2 / tensor parallelism: ``to_local()``, no
    communication); any other tensor as it is. The probe measures what each rank holds."""
    if t is None or type(t) is torch.Tensor or type(t) is nn.Parameter:
        return t
    dtensor = _imported("torch.distributed.tensor:DTensor", "torch.distributed._tensor:DTensor")
    return t.to_local() if dtensor and isinstance(t, dtensor) else t


def read_attr(module: nn.Module, name: str = "weight") -> Any:
    """``module.<name>`` for reading, without a parametrization's training-mode update: a spectral norm's
    power iteration advances its ``_u``/``_v`` buffers at every read in training mode, so a read by the tool
    would change the training. Its parametrizations are put in eval mode for the read (no graph kept)."""
    chain = getattr(module, "parametrizations", None)
    if chain is None or name not in chain:
        return getattr(module, name, None)
    modes = [(m, m.training) for m in chain[name].modules()]
    chain[name].eval()
    try:
        with torch.no_grad():
            return getattr(module, name, None)
    finally:
        for m, training in modes:
            m.training = training


def is_sharded(module: nn.Module) -> bool:
    """The module (or one inside it) is sharded by FSDP (``fully_shard`` or ``FullyShardedDataParallel``):
    its forward gathers parameters with collectives, so one rank alone must never run it again."""
    fsdp = _imported("torch.distributed.fsdp:FSDPModule", "torch.distributed.fsdp:FullyShardedDataParallel",
                     "torch.distributed._composable.fsdp:FSDPModule")  # fully_shard's home before torch 2.6
    return bool(fsdp) and any(isinstance(m, fsdp) for m in module.modules())


#: Device types whose autocast state a forward call keeps for its replay.
AUTOCAST_DEVICES = ("cuda", "cpu")


def autocast_state() -> list[tuple[str, torch.dtype]]:
    """The autocast regions the caller is in: (device type, dtype) of each enabled one."""
    out = []
    for device in AUTOCAST_DEVICES:
        try:
            if torch.is_autocast_enabled(device):
                out.append((device, torch.get_autocast_dtype(device)))
        except (RuntimeError, TypeError, AttributeError):  # an older torch: per-device functions differ
            continue
    return out


@contextmanager
def autocast(state: list[tuple[str, torch.dtype]]) -> Iterator[None]:
    """Re-enter the autocast regions ``autocast_state`` saw (a replay runs in the precision of the step)."""
    with ExitStack() as stack:
        for device, dtype in state:
            stack.enter_context(torch.autocast(device, dtype=dtype))
        yield


def default_store() -> Any:
    """The key-value store of the default process group (torch keeps its accessor private), or None."""
    try:
        from torch.distributed import distributed_c10d

        return distributed_c10d._get_default_store()
    except Exception:  # no process group, no distributed support, or a torch that renamed it
        return None


def dataloader_iter() -> type:
    """The base class of DataLoader iterators (private: ``_BaseDataLoaderIter``, whose ``_next_index``
    draws the next batch's indices from the sampler); CompatError when torch renamed either."""
    from torch.utils.data import dataloader

    base = getattr(dataloader, "_BaseDataLoaderIter", None)
    if base is None or not hasattr(base, "_next_index"):
        raise CompatError("torch.utils.data.dataloader._BaseDataLoaderIter._next_index is missing")
    return base


def run_eager(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, never traced by Dynamo: a hook that a compiled function triggers (a global optimizer hook
    under a ``torch.compile``d ``optimizer.step()``) runs eagerly at a graph break instead of being traced
    into the graph with the run's records and detectors."""
    return torch.compiler.disable(fn)


def is_compiling() -> bool:
    """True while Dynamo traces the calling code (hooks must then do nothing)."""
    fn = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(fn()) if fn is not None else False


#: Wrappers that run their ``.module`` unchanged on each device (layer names then drop the ``module.``).
DATA_PARALLEL = (nn.DataParallel, nn.parallel.DistributedDataParallel)


def _compiled_inner(module: nn.Module) -> nn.Module | None:
    inner = getattr(module, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else None


def eager_module(module: nn.Module) -> nn.Module:
    """The module that does the work: behind ``torch.compile`` (``OptimizedModule._orig_mod``) and behind
    data-parallel wrappers (``.module``), in any nesting; itself when it is neither."""
    while True:
        inner = _compiled_inner(module)
        if inner is None and isinstance(module, DATA_PARALLEL):
            inner = module.module
        if inner is None:
            return module
        module = inner


def inside_ddp_of(module: nn.Module) -> bool:
    """``module``'s forward runs now inside the forward of a ``DistributedDataParallel`` that wraps it
    (directly or through ``torch.compile``): its gradients are averaged over the ranks, although the script
    handed us the inner module (a Hugging Face ``Trainer``'s callbacks get that one). Read from torch's own
    record of the running DDP forward (``DistributedDataParallel._active_ddp_module``, kept for Dynamo
    since torch 2.0); False where this torch has none."""
    ddp = getattr(nn.parallel.DistributedDataParallel, "_active_ddp_module", None)
    return isinstance(ddp, nn.parallel.DistributedDataParallel) and (
        ddp.module is module or eager_module(ddp) is eager_module(module))


def stepping_optimizer(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer whose ``step`` runs torch's step hooks: behind wrappers that hold it and call its step
    without running ``Optimizer.__init__`` themselves (accelerate's ``AcceleratedOptimizer`` in
    ``.optimizer``, which a Hugging Face ``Trainer`` hands its callbacks; Lightning's ``LightningOptimizer``
    in ``._optimizer``); ``opt`` itself when it is not such a wrapper."""
    for _ in range(8):  # wrappers of wrappers, never a cycle
        inner = next((getattr(opt, name) for name in ("optimizer", "_optimizer")
                      if isinstance(getattr(opt, name, None), torch.optim.Optimizer)), None)
        if inner is None or inner is opt or hasattr(opt, "_optimizer_step_pre_hooks"):
            return opt
        opt = inner
    return opt


def is_compiled(module: nn.Module) -> bool:
    """``module`` is a compiled model, or a data-parallel wrapper of one."""
    while isinstance(module, DATA_PARALLEL):
        module = module.module
    return _compiled_inner(module) is not None


def can_force_eager() -> bool:
    return hasattr(getattr(torch, "compiler", None), "set_stance")


def force_eager() -> Callable[[], None]:
    """Make compiled code run eagerly (a statistics step: per-layer hooks, no recompilation) until the
    returned function is called. CompatError on a torch without ``torch.compiler.set_stance``."""
    if not can_force_eager():
        raise CompatError("torch.compiler.set_stance is missing (torch < 2.6): compiled models get no "
                          "per-layer statistics")
    torch.compiler.set_stance("force_eager")
    return lambda: torch.compiler.set_stance("default")


#: What a compiled model's call warns while a global module hook exists (ours, while a model is looked for).
_GLOBAL_HOOK_WARNING = r"Using `torch\.compile\(module\)` when there are global hooks on modules"


def quiet_global_hook_warning() -> Callable[[], None]:
    """Hide the warning a ``torch.compile``'d model gives while our global forward pre-hook looks for
    models (the hook only looks, and a compiled wrapper is known as its module); returns the undo. The
    user's own filters are left as they are (one the same as ours is neither replaced nor taken out)."""
    if any(f[0] == "ignore" and f[1] is not None and f[1].pattern == _GLOBAL_HOOK_WARNING
           for f in warnings.filters):
        return lambda: None
    warnings.filterwarnings("ignore", message=_GLOBAL_HOOK_WARNING, category=UserWarning)
    entry = warnings.filters[0]

    def undo() -> None:
        if entry in warnings.filters:
            warnings.filters.remove(entry)
            mutated = getattr(warnings, "_filters_mutated", None)
            if mutated is not None:
                mutated()
    return undo


@contextmanager
def forked_rng(devices: Sequence[int]) -> Iterator[None]:
    """Inside: any RNG use; after: the CPU and these CUDA devices' generators as they were before."""
    with torch.random.fork_rng(devices=list(devices)):
        yield


def rng_state(devices: Sequence[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The CPU generator's state and those of the given CUDA devices (copies)."""
    cuda = [torch.cuda.get_rng_state(d) for d in devices] if devices else []
    return torch.get_rng_state(), cuda


def set_rng_state(state: tuple[torch.Tensor, list[torch.Tensor]], devices: Sequence[int]) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    for device, s in zip(devices, cuda, strict=False):
        torch.cuda.set_rng_state(s, device)


def calling_loss_module(depth: int) -> str | None:
    """The class name of the ``nn.modules.loss._Loss`` whose ``forward`` called the current function, up to
    ``depth`` frames up (a loss module calls its ``torch.nn.functional`` twin); None when there is none.
    Reads interpreter frames (``sys._getframe``), so it is called once per model, not per step."""
    frame = sys._getframe(1)
    for _ in range(depth):
        frame = frame.f_back
        if frame is None:
            return None
        if frame.f_code.co_name != "forward":
            continue  # reading f_locals snapshots a frame's locals (Python < 3.13): only a loss's forward
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.modules.loss._Loss):
            return type(owner).__name__
    return None


class Patch:
    """Attributes replaced while a session is active; ``restore`` puts the originals back (reverse order)."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def replace(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        """``owner.name = make(original)``; CompatError when ``owner`` has no such attribute."""
        if not hasattr(owner, name):
            raise CompatError(f"{getattr(owner, '__name__', owner)}.{name} is missing")
        original = getattr(owner, name)
        self._saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()
