"""Zero-code Keras instrumentation: ``instrument(monitor)`` injects the callback into every ``Model.fit``.

Importing this module does not import Keras. While ``instrument`` is active, ``keras.Model.fit`` is wrapped
(at once if Keras is already imported, otherwise by a meta-path hook the moment the script imports it), so
a script that never imports Keras pays one string comparison per new import and nothing else. The
callback class itself lives in ``keras_callback`` (it subclasses ``keras.callbacks.Callback``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import TYPE_CHECKING, Any

from deeplocalize.monitor import Monitor

if TYPE_CHECKING:
    from deeplocalize.probes.keras_callback import DeepLocalize

__all__ = ["DeepLocalize", "instrument"]


def __getattr__(name: str) -> Any:
    if name == "DeepLocalize":  # imports Keras only when asked for
        from deeplocalize.probes.keras_callback import DeepLocalize

        return DeepLocalize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Loader(importlib.abc.Loader):
    """Delegates to Keras' own loader, then calls ``after(module)`` once the package is executed."""

    def __init__(self, inner: importlib.abc.Loader, after: Callable[[ModuleType], None]) -> None:
        self.inner = inner
        self.after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        self.after(module)


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when ``keras`` is about to be imported, wraps its loader."""

    def __init__(self, after: Callable[[ModuleType], None]) -> None:
        self.after = after
        self._busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras" or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader, self.after)  # type: ignore[arg-type]
        return spec


#: ``Model.fit`` calls now running under ``instrument`` (its callback watches them; the torch probe then
#: leaves the Keras model alone, and watches one only in a training loop of the script's own)
_FITTING = [0]


def fitting() -> bool:
    """A ``Model.fit`` watched by ``instrument`` is running now."""
    return _FITTING[0] > 0


class _FitPatch:
    """Wraps ``keras.Model.fit`` so that every call carries a ``DeepLocalize`` bound to ``monitor``."""

    def __init__(self, monitor: Monitor, max_steps: int | None) -> None:
        self.monitor = monitor
        self.max_steps = max_steps
        self.model_cls: Any = None
        self.original: Any = None
        self.had_own = False
        #: (a model ``fit`` was called on, its monitor): the first model's is ``monitor``, another model's
        #: (a classifier fitted on a base that a proxy model fitted first) a sibling with its own trace
        self._models: list[tuple[weakref.ref[Any], Monitor]] = []

    def apply(self, keras_module: ModuleType) -> None:
        try:
            model_cls = keras_module.Model
            original = model_cls.fit
            self.had_own = "fit" in vars(model_cls)
            self.model_cls, self.original = model_cls, original
            model_cls.fit = self._wrap(original)
        except Exception as exc:  # the script runs uninstrumented rather than not at all
            self.monitor.tool_error("keras instrument", exc)

    def remove(self) -> None:
        if self.model_cls is None:
            return
        if self.had_own:
            self.model_cls.fit = self.original
        else:
            with suppress(AttributeError):
                del self.model_cls.fit
        self.model_cls = None

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        patch = self

        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(self, *args, **kwargs)
                bound.arguments["callbacks"] = patch._callbacks(bound.arguments)
            except Exception as exc:  # a bad call: let Keras report it
                patch.monitor.tool_error("keras instrument", exc)
                return original(self, *args, **kwargs)
            _FITTING[0] += 1
            try:
                return original(*bound.args, **bound.kwargs)
            finally:
                _FITTING[0] -= 1

        fit.__wrapped__ = original  # type: ignore[attr-defined]
        fit.__doc__ = original.__doc__
        return fit

    def _callbacks(self, arguments: dict[str, Any]) -> Any:
        from deeplocalize.probes.keras_callback import DeepLocalize

        given = arguments.get("callbacks")
        monitor = self._monitor_of(arguments.get("self"))
        callback = DeepLocalize(on_fault=monitor.on_fault, config=monitor.config, store=False,
                                verbose=0, monitor=monitor, max_steps=self.max_steps)
        callback.set_fit_data(arguments.get("x"), arguments.get("y"), arguments.get("batch_size"))
        if given is None:
            return [callback]
        if isinstance(given, (list, tuple)):
            return [*given, callback]
        given.append(callback)  # a keras CallbackList
        return given

    def _monitor_of(self, model: Any) -> Monitor:
        """The monitor of ``model``'s ``fit`` calls: each model's own, so that a second model's first loss
        is not read as the first one's loss rising."""
        self._models = [(ref, m) for ref, m in self._models if ref() is not None]
        for ref, monitor in self._models:
            if ref() is model:
                return monitor
        monitor = self.monitor.spawn() if self._models else self.monitor
        with suppress(TypeError):  # (a model that cannot be weakly referenced shares the first monitor)
            self._models.append((weakref.ref(model), monitor))
        return monitor


@contextmanager
def instrument(monitor: Monitor, max_steps: int | None = None) -> Iterator[None]:
    """While active, every ``keras.Model.fit`` call is watched by a ``DeepLocalize`` bound to ``monitor``.

    ``max_steps``: stop training (``model.stop_training``) once the monitor has seen that many steps.
    The caller finishes the monitor (``monitor.finish()``); the callbacks never do.
    """
    patch = _FitPatch(monitor, max_steps)
    hook: _KerasImportHook | None = None
    if "keras" in sys.modules:
        patch.apply(sys.modules["keras"])
    else:
        hook = _KerasImportHook(patch.apply)
        sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        if hook is not None and hook in sys.meta_path:
            sys.meta_path.remove(hook)
        patch.remove()
