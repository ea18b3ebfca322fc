"""Messy real scripts: several models, a GAN, a replaced layer, compiled models, an augmentation module, a
long run with an lr schedule. Healthy set-ups end healthy and are never stopped."""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.compat import torch as compat  # noqa: E402
from deeplocalize.monitor import Monitor  # noqa: E402
from deeplocalize.probes.torch import instrument  # noqa: E402
from deeplocalize.vocabulary import Verdict  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _torch_models as tm  # noqa: E402


def _blobs(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    return tm.blobs(n, seed=0)


def _instrumented(train: object, config: dl.Config | None = None) -> tuple[Monitor, object]:
    """Run ``train()`` as ``deeplocalize run`` would (global instrumentation, policy stop)."""
    monitor = Monitor("torch", config or dl.Config(), on_fault="stop")
    with instrument(monitor):
        result = train()  # type: ignore[operator]
    return monitor, result


def _healthy(diagnosis: dl.Diagnosis) -> None:
    assert diagnosis.verdict == Verdict.HEALTHY, [f.message for f in diagnosis.findings]
    assert not diagnosis.stopped_early and diagnosis.tool_errors == []


def _gan(hidden: int) -> tuple[nn.Module, nn.Module]:
    """A generator of 2-d points from 4-d noise and its discriminator (logits)."""
    gen = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    disc = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return gen, disc


def test_a_gan_with_two_optimizers_gets_one_diagnosis_per_model_and_is_never_stopped() -> None:
    torch.manual_seed(0)
    gen, disc = _gan(32)

    def train() -> int:
        opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
        steps = 0
        for _ in range(300):
            real = torch.randn(64, 2) * 0.3 + torch.tensor([2.0, -1.0])
            fake = gen(torch.randn(64, 4))
            opt_d.zero_grad()
            loss_d = (F.binary_cross_entropy_with_logits(disc(real), torch.ones(64, 1))
                      + F.binary_cross_entropy_with_logits(disc(fake.detach()), torch.zeros(64, 1)))
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            F.binary_cross_entropy_with_logits(disc(fake), torch.ones(64, 1)).backward()
            opt_g.step()
            steps += 1
        return steps

    monitor, steps = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    assert steps == 300
    assert len(diagnosis.models) == 2 and {d.steps_observed for d in diagnosis.models} == {300}
    for model_diagnosis in diagnosis.models:
        _healthy(model_diagnosis)
    # each optimizer's loss is its own series: the discriminator's starts near 2 ln 2, the generator's not
    first_losses = sorted(m.trace.loss()[0] for m in (monitor, *monitor.siblings))
    assert len(first_losses) == 2 and abs(first_losses[1] - 2 * math.log(2)) < 0.5
    assert all(m.model.extra.get("adversarial") for m in (monitor, *monitor.siblings))
    assert [[layer.name for layer in d.layers] for d in diagnosis.models] != [[], []]


def test_a_wasserstein_gan_whose_losses_no_loss_function_makes_is_adversarial() -> None:
    """WGAN-GP: the critic's loss is ``D(fake).mean() - D(real).mean()`` plus a gradient penalty, the
    generator's ``-D(G(z)).mean()``; no loss function sees them, so whose output each is made from is read
    from its graph at backward. The critic's loss rises towards 0 as the generator improves (once a
    "loss does not decrease" false alarm that stopped the run)."""
    torch.manual_seed(0)
    gen, critic = _gan(64)
    centers = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])

    def train() -> float:
        opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.5, 0.9))
        opt_c = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
        for _ in range(200):
            for _ in range(5):
                real = centers[torch.randint(0, 4, (128,))] + 0.1 * torch.randn(128, 2)
                fake = gen(torch.randn(128, 4)).detach()
                eps = torch.rand(128, 1)
                mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
                grad = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)[0]
                loss_c = critic(fake).mean() - critic(real).mean() + 10 * ((grad.norm(dim=1) - 1) ** 2).mean()
                opt_c.zero_grad()
                loss_c.backward()
                opt_c.step()
            opt_g.zero_grad()
            (-critic(gen(torch.randn(128, 4))).mean()).backward()
            opt_g.step()
        return float(loss_c)

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    assert sorted(d.steps_observed for d in diagnosis.models) == [200, 1000]
    for model_diagnosis in diagnosis.models:
        _healthy(model_diagnosis)
    assert all(m.model.extra.get("adversarial") for m in (monitor, *monitor.siblings))


def test_a_gan_in_one_module_is_split_into_its_two_models_under_instrumentation() -> None:
    """Lightning's GAN example: one module holds the generator and the discriminator, each with its own
    optimizer; the other model's parameters are frozen while one steps (``toggle_optimizer``). Under
    ``deeplocalize run`` (no model given) it is two adversarial models, neither frozen nor stopped."""

    class GAN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.generator = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
            self.discriminator = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.generator(z)

    def toggle(opt: torch.optim.Optimizer, model: nn.Module) -> None:
        own = {id(p) for group in opt.param_groups for p in group["params"]}
        for p in model.parameters():
            p.requires_grad_(id(p) in own)

    def train() -> None:
        torch.manual_seed(0)
        gan = GAN()
        opt_g = torch.optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        for _ in range(300):
            real = torch.randn(64, 2) * 0.3 + torch.tensor([2.0, -1.0])
            z = torch.randn(64, 4)
            toggle(opt_g, gan)
            opt_g.zero_grad()
            F.binary_cross_entropy_with_logits(gan.discriminator(gan(z)), torch.ones(64, 1)).backward()
            opt_g.step()
            toggle(opt_d, gan)
            opt_d.zero_grad()
            loss_d = (F.binary_cross_entropy_with_logits(gan.discriminator(real), torch.ones(64, 1))
                      + F.binary_cross_entropy_with_logits(gan.discriminator(gan(z).detach()),
                                                           torch.zeros(64, 1))) / 2
            loss_d.backward()
            opt_d.step()
            for p in gan.parameters():
                p.requires_grad_(True)

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    assert sorted(d.model for d in diagnosis.models) == ["discriminator", "generator"]
    for model_diagnosis in diagnosis.models:
        _healthy(model_diagnosis)
        # the split is known at the second optimizer's first step; the step before it is not kept
        assert model_diagnosis.steps_observed in (299, 300)


def test_two_models_trained_one_after_the_other_are_both_diagnosed() -> None:
    x, y = _blobs()

    def fit(model: nn.Module, steps: int) -> None:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for i in range(steps):
            xb, yb = x[(i * 32) % 256:(i * 32) % 256 + 32], y[(i * 32) % 256:(i * 32) % 256 + 32]
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()

    def train() -> None:
        torch.manual_seed(0)
        fit(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)), 150)
        fit(nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)), 200)

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    assert [d.steps_observed for d in diagnosis.models] == [150, 200]
    assert [len(d.layers) for d in diagnosis.models] == [3, 5]
    for model_diagnosis in diagnosis.models:
        _healthy(model_diagnosis)
    as_json = diagnosis.to_dict()
    # a single-model reader still works
    assert as_json["verdict"] == "healthy" and len(as_json["models"]) == 2


def test_a_layer_replaced_mid_run_starts_a_new_history() -> None:
    x, y = _blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    config = dl.Config(stats_every=5)
    with dl.watch(model, store=False, config=config) as run:
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for i in range(200):
            if i == 100:  # a new head, and an optimizer over the new parameters
                model[2] = nn.Linear(16, 3)
                opt = torch.optim.SGD(model.parameters(), lr=0.05)
            opt.zero_grad()
            F.cross_entropy(model(x[:64]), y[:64]).backward()
            opt.step()
    _healthy(run.diagnosis)
    names = [layer.name for layer in run.monitor.model.layers]
    assert names.count("2") == 1 and len(run.monitor.model.layers) == 3
    indices = [layer.index for layer in run.monitor.model.layers]
    assert max(indices) == 3  # the new head got a new index (its own history); the old one is gone


def test_an_augmentation_module_before_the_model_is_not_its_first_layer() -> None:
    x, y = _blobs()

    class Jitter(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t + 0.01 * torch.randn_like(t)

    def train() -> None:
        torch.manual_seed(0)
        augment = Jitter()
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(120):
            xb = augment(x[:48].unsqueeze(0)).squeeze(0)  # a different shape: must not be read as the batch
            opt.zero_grad()
            F.cross_entropy(model(xb), y[:48]).backward()
            opt.step()

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    _healthy(diagnosis)
    assert [layer.type for layer in diagnosis.layers] == ["Linear", "ReLU", "Linear"]
    assert monitor.model.batch_size == 48 and monitor.model.data.x_shape == (48, 8)


def test_a_data_parallel_wrapper_is_watched_as_the_model_inside_it() -> None:
    """``nn.DataParallel`` (and DDP) run their ``.module``: its layers keep their own names, and a NaN on an
    ordinary step is replayed through the inner module."""
    x, y = _blobs()

    def train(watch: bool) -> dl.Diagnosis:
        torch.manual_seed(0)
        model = nn.DataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def loop() -> None:
            for i in range(100):
                j = (i * 64) % 256
                opt.zero_grad()
                F.cross_entropy(model(x[j:j + 64]), y[j:j + 64]).backward()
                opt.step()

        if watch:
            with dl.watch(model, opt, store=False) as run:
                loop()
            return run.diagnosis
        monitor, _ = _instrumented(loop)
        return monitor.finish(completed=True)

    for watch in (True, False):
        diagnosis = train(watch)
        _healthy(diagnosis)
        assert [layer.name for layer in diagnosis.layers] == ["0", "1", "2"]

    torch.manual_seed(0)
    bad = tm.NanFrom()
    model = nn.DataParallel(nn.Sequential(nn.Linear(8, 16), bad, nn.Linear(16, 3)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with dl.watch(model, opt, store=False, on_fault="continue") as run:
        for step in range(1, 41):
            bad.armed = step >= 30
            opt.zero_grad()
            F.cross_entropy(model(x[:64]), y[:64]).backward()
            opt.step()
    first = run.diagnosis.faults[0]
    assert (first.symptom, first.layer.name, first.step) == ("numerical_error", "1", 30)


class WrappedOptimizer(torch.optim.Optimizer):
    """As accelerate's ``AcceleratedOptimizer`` (what a Hugging Face ``Trainer`` hands its callbacks): an
    ``Optimizer`` that never ran ``Optimizer.__init__`` and steps the optimizer it holds."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:  # no super().__init__(), as accelerate's
        self.optimizer = optimizer

    @property
    def param_groups(self) -> list:  # type: ignore[override]
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    def step(self, closure: object = None) -> None:  # type: ignore[override]
        self.optimizer.step()


def test_a_wrapped_optimizer_and_keyword_inputs_keep_steps_and_origins_exact() -> None:
    """Given the wrapper, the steps end when the optimizer inside it steps (not one step late: the faulty
    step's forward is its own), and a batch passed by keyword (``model(x=..., labels=...)``, the Hugging
    Face convention, loss computed in forward) is found as the data it is."""

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = self.net(x)
            return {"logits": logits, "loss": F.cross_entropy(logits, labels)}

    x, y = _blobs()
    torch.manual_seed(0)
    model = Classifier()
    opt = WrappedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    assert compat.stepping_optimizer(opt) is opt.optimizer
    with dl.watch(model, opt, store=False, on_fault="continue") as run:
        for step in range(1, 41):
            xb = x[:64].clone()
            if step == 30:
                xb[0, 0] = float("nan")
            opt.zero_grad()
            model(x=xb, labels=y[:64])["loss"].backward()
            opt.step()
    assert run.diagnosis.steps_observed == 40
    first = run.diagnosis.faults[0]
    assert (first.symptom, first.phase, first.step) == ("numerical_error", "data", 30)


@pytest.mark.parametrize("backend", ["eager", "inductor"])
def test_a_compiled_model_trains_unchanged_and_statistics_run_the_eager_module(backend: str) -> None:
    x, y = _blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    compiled = torch.compile(model, backend=backend)
    torch._dynamo.utils.counters.clear()

    def train() -> None:
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for i in range(90):
            opt.zero_grad()
            rows = slice((i % 4) * 64, (i % 4) * 64 + 64)
            F.cross_entropy(compiled(x[rows]), y[rows]).backward()
            opt.step()

    monitor, _ = _instrumented(train, dl.Config(stats_every=10))
    diagnosis = monitor.finish(completed=True)
    if not compat.can_force_eager():  # torch < 2.6: the limit is said once, the training is unaffected
        assert diagnosis.verdict == Verdict.HEALTHY and not diagnosis.stopped_early
        assert [e.split(":")[0] for e in diagnosis.tool_errors] == ["torch probe statistics step"]
        assert "per-layer statistics" in diagnosis.tool_errors[0]
        torch._dynamo.reset()
        return
    _healthy(diagnosis)
    assert diagnosis.steps_observed == 90 and [layer.name for layer in diagnosis.layers] == ["0", "1", "2"]
    outputs = monitor.trace.series(0, dl.vocabulary.Channel.OUTPUT, "std")
    assert (outputs == outputs).sum() >= 5  # per-layer statistics on the statistics steps
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert frames <= 2  # compiled once (and maybe once more for a new batch shape), not per step
    torch._dynamo.reset()


def test_dl_watch_of_a_model_called_through_its_compiled_wrapper() -> None:
    x, y = _blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    compiled = torch.compile(model, backend="eager")
    with dl.watch(model, store=False, config=dl.Config(stats_every=10)) as run:
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for _ in range(60):
            opt.zero_grad()
            F.cross_entropy(compiled(x[:64]), y[:64]).backward()
            opt.step()
    assert run.diagnosis.tool_errors == [] and run.monitor.trace.steps_observed == 60
    torch._dynamo.reset()


def test_a_compiled_optimizer_step_runs_our_hooks_eagerly_and_bit_identically() -> None:
    """``torch.compile`` of a function calling ``opt.step()`` traces into the global optimizer hooks: ours
    must run as plain Python at a graph break, not be traced with the run's records and detectors (which
    broke them and recompiled them at every step)."""
    x, y = _blobs()

    def train() -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        step = torch.compile(opt.step, backend="eager")
        for i in range(120):
            opt.zero_grad()
            rows = slice((i % 4) * 64, (i % 4) * 64 + 64)
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            step()
        return [p.detach().clone() for p in model.parameters()]

    plain = train()
    torch._dynamo.reset()
    monitor, watched = _instrumented(train, dl.Config(stats_every=10))
    diagnosis = monitor.finish(completed=True)
    torch._dynamo.reset()
    _healthy(diagnosis)
    assert diagnosis.tool_errors == [] and diagnosis.steps_observed == 120
    assert all(torch.equal(a, b) for a, b in zip(plain, watched, strict=True))


def test_a_compiled_model_gives_no_warning_about_our_global_hook_and_user_filters_stay() -> None:
    """While a model is looked for, our global forward pre-hook exists; torch warns every compiled model's
    call about global hooks. The warning is about us, not the user's program: it is not shown, and the
    warning filters are as before once the session ends."""
    x, y = _blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    compiled = torch.compile(model, backend="eager")
    before = list(warnings.filters)

    def train() -> list[str]:
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        with warnings.catch_warnings(record=True) as seen:
            # every warning shown (pytest's own filters out), except what a filter of the session hides
            warnings.filters[:] = [f for f in warnings.filters if f[1] and "global" in f[1].pattern]
            warnings.simplefilter("always", append=True)
            getattr(warnings, "_filters_mutated", lambda: None)()
            for _ in range(3):
                opt.zero_grad()
                F.cross_entropy(compiled(x[:64]), y[:64]).backward()
                opt.step()
        return [str(w.message) for w in seen]

    undo = compat.quiet_global_hook_warning()
    undo()
    assert warnings.filters == before  # the undo takes out exactly its own filter
    with warnings.catch_warnings():  # a user's own filter, the same as ours, stays where it is
        warnings.filterwarnings("ignore", message=compat._GLOBAL_HOOK_WARNING, category=UserWarning)
        users = list(warnings.filters)
        compat.quiet_global_hook_warning()()
        assert warnings.filters == users
    _, shown = _instrumented(train)
    assert not [m for m in shown if "global hooks" in m], shown
    assert not [f for f in warnings.filters if f[1] is not None and "global hooks" in f[1].pattern]
    torch._dynamo.reset()


def test_twenty_thousand_healthy_steps_with_warmup_and_cosine_decay_stay_healthy() -> None:
    x, y = _blobs(512)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    total, warmup = 20_000, 500
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    with dl.watch(model, opt, store=False) as run:
        for i in range(total):
            j = (i * 64) % 512
            opt.zero_grad()
            F.cross_entropy(model(x[j:j + 64]), y[j:j + 64]).backward()
            opt.step()
            sched.step()
    _healthy(run.diagnosis)
    assert run.monitor.trace.steps_observed == total


def test_a_deep_copy_of_the_watched_model_trains_on_and_is_not_watched() -> None:
    """Early stopping keeps ``copy.deepcopy(model)`` of the best epoch; an EMA keeps a twin. The copy must
    work, and its calls are not the watched model's."""
    import copy

    torch.manual_seed(0)
    x, y = torch.randn(256, 8), torch.randint(0, 3, (256,))
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with dl.watch(model, store=False, config=dl.Config(stats_every=5)) as run:
        best = None
        for step in range(120):
            opt.zero_grad()
            F.cross_entropy(model(x[(step % 4) * 64:(step % 4) * 64 + 64]), y[:64]).backward()
            opt.step()
            if step % 30 == 0:
                best = copy.deepcopy(model)
                F.cross_entropy(best(x[:64]), y[:64]).backward()  # the copy trains too: not our model
    assert best is not None and run.diagnosis.tool_errors == []
    assert run.monitor.trace.steps_observed == 120 and not run.diagnosis.stopped_early


def _train_mixed(precision: str, watch: bool) -> tuple[list[torch.Tensor], float | None, object]:
    """200 steps under autocast: ``fp16`` with a GradScaler started far too high (2**40: its first steps
    overflow and are skipped, by design), or ``bf16`` without one. Weights, the final scale, the run."""
    x, y = _blobs(512)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40) if precision == "fp16" else None
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    ctx = dl.watch(model, opt, store=False) if watch else contextlib.nullcontext()
    with ctx as run:
        for i in range(200):
            j = (i * 64) % 512
            opt.zero_grad()
            with torch.autocast("cpu", dtype=dtype):
                loss = F.cross_entropy(model(x[j:j + 64]), y[j:j + 64])
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
    scale = scaler.get_scale() if scaler is not None else None
    return [p.detach().clone() for p in model.parameters()], scale, run


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_is_healthy_and_unaltered(precision: str) -> None:
    """Skipped fp16 steps are normal (never a fault), and the loss is recorded in the loss function's
    units, not times the scaler's factor."""
    plain, plain_scale, _ = _train_mixed(precision, watch=False)
    watched, scale, run = _train_mixed(precision, watch=True)
    assert all(torch.equal(a, b) for a, b in zip(plain, watched, strict=True))
    if precision == "fp16":
        assert scale == plain_scale and scale is not None and scale < 2.0**40  # steps were skipped
    _healthy(run.diagnosis)
    assert run.diagnosis.findings == [], run.diagnosis.findings
    first_loss = run.monitor.trace.loss()[0]
    assert 0.1 < first_loss < 5, first_loss  # ~log(3), not 2**40 times it


class _TimesHundredThousand(nn.Module):
    """Fine in float32; in a float16 autocast region its output overflows (beyond 65504) to Inf."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1e5


def test_an_fp16_overflow_is_replayed_in_fp16_and_found_at_its_layer() -> None:
    """The replay of a non-finite step runs in the autocast precision of the step (in float32 it would not
    overflow, and the NaN would go unexplained): the layer that overflows is named, with the fix."""
    x, y = _blobs(256)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), _TimesHundredThousand(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with dl.watch(model, opt, store=False) as run:
        for i in range(20):
            j = (i * 32) % 256
            with torch.autocast("cpu", dtype=torch.float16):
                loss = F.cross_entropy(model(x[j:j + 32]), y[j:j + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    diagnosis = run.diagnosis
    assert diagnosis.verdict == dl.Verdict.FAULTY and run.stopped_early
    nan = next(f for f in diagnosis.faults if f.symptom == "numerical_error")
    assert (nan.step, nan.phase, nan.layer.index) == (1, "forward", 1)
    top = diagnosis.root_causes[0]
    assert top.layer is not None and top.layer.index == 1 and "float16 under autocast" in top.fix


def test_a_grad_scaler_whose_scale_falls_below_one_is_a_fault_at_the_layer_that_overflows() -> None:
    """Every step overflows, so GradScaler skips them all (optimizer.step() never runs) and halves its
    scale each time; once it is below 1 the skipped step is checked and replayed: the layer is named."""
    x, y = _blobs(256)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), _TimesHundredThousand(), nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    iterations = 0
    with dl.watch(model, opt, store=False) as run:
        for i in range(100):
            iterations += 1
            j = (i * 32) % 256
            with torch.autocast("cpu", dtype=torch.float16):
                loss = F.cross_entropy(model(x[j:j + 32]), y[j:j + 32])
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    assert run.stopped_early and iterations == 18  # 2**16 halved by the 17 skips before it: 0.5
    nan = next(f for f in run.diagnosis.faults if f.symptom == "numerical_error")
    assert nan.layer is not None and nan.layer.index == 1 and nan.evidence["grad_scaler_scale"] == 0.5


def test_a_model_whose_inputs_are_sparse_is_watched_without_tool_errors() -> None:
    """A graph network (pytorch/examples' GCN): sparse features and a sparse adjacency as the inputs."""
    torch.manual_seed(0)

    class GraphConv(nn.Module):
        def __init__(self, n_in: int, n_out: int) -> None:
            super().__init__()
            self.kernel = nn.Parameter(torch.randn(n_in, n_out) * 0.1)

        def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
            return torch.sparse.mm(adj, torch.sparse.mm(x, self.kernel) if x.is_sparse else x @ self.kernel)

    class GCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gc1, self.gc2 = GraphConv(20, 8), GraphConv(8, 3)

        def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
            return F.log_softmax(self.gc2(F.relu(self.gc1(x, adj)), adj), dim=1)

    n = 60
    features = (torch.rand(n, 20) < 0.2).float().to_sparse()
    adj = ((torch.rand(n, n) < 0.1).float() + torch.eye(n)).to_sparse()
    labels = torch.randint(0, 3, (n,))
    model = GCN()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with dl.watch(model, opt, store=False) as run:
        for _ in range(30):
            opt.zero_grad()
            F.nll_loss(model(features, adj), labels).backward()
            opt.step()
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []
    assert run.diagnosis.steps_observed == 30


def test_a_compiled_model_that_computes_its_loss_in_its_forward_is_watched_without_tool_errors() -> None:
    """nanoGPT and Hugging Face models return their loss from ``forward``: compiled, the loss function runs
    while Dynamo traces, on fake tensors, which the probe must not keep (the loss is taken at backward)."""
    x, y = _blobs()
    torch.manual_seed(0)

    class WithLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.net(inputs)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            return logits, loss

    def train() -> None:
        model = WithLoss()
        compiled = torch.compile(model)  # inductor: traced on fake tensors
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for i in range(90):
            rows = slice((i % 4) * 64, (i % 4) * 64 + 64)
            compiled(x[rows], y[rows])[1].backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    if not compat.can_force_eager():  # torch < 2.6: no per-layer statistics of a compiled model, said once
        assert [e.split(":")[0] for e in diagnosis.tool_errors] == ["torch probe statistics step"]
        diagnosis.tool_errors.clear()
    _healthy(diagnosis)
    assert diagnosis.steps_observed == 90 and (monitor.trace.loss() == monitor.trace.loss()).all()
    torch._dynamo.reset()


@pytest.mark.parametrize("decoder_steps_first", [False, True])
def test_an_encoder_and_a_decoder_with_their_own_optimizers_are_both_watched_from_the_first_step(
        decoder_steps_first: bool) -> None:
    """One loss, two models, two optimizers (the seq2seq tutorial's shape): the decoder, called after the
    encoder was found, is found in the same step, not one step late; a backward that no optimizer applies
    at the end (a GAN's discriminator under the generator's last loss) is not counted as a step."""
    x, y = _blobs()
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    decoder = nn.Sequential(nn.Linear(16, 3))

    def train() -> None:
        opt_enc = torch.optim.Adam(encoder.parameters(), lr=1e-2)
        opt_dec = torch.optim.Adam(decoder.parameters(), lr=1e-2)
        for i in range(40):
            xb, yb = x[(i * 32) % 256:(i * 32) % 256 + 32], y[(i * 32) % 256:(i * 32) % 256 + 32]
            opt_enc.zero_grad()
            opt_dec.zero_grad()
            F.nll_loss(F.log_softmax(decoder(encoder(xb)), -1), yb).backward()
            for opt in (opt_dec, opt_enc) if decoder_steps_first else (opt_enc, opt_dec):
                opt.step()
        F.nll_loss(F.log_softmax(decoder(encoder(x[:32])), -1), y[:32]).backward()  # never applied

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    assert [d.steps_observed for d in diagnosis.models] == [40, 40]
    models = (monitor, *monitor.siblings)
    first_losses = [m.trace.loss()[0] for m in models]
    assert first_losses[0] == first_losses[1]  # the decoder's records have the shared loss too
    assert not any(m.model.extra.get("adversarial") for m in models)  # one model in two parts, no GAN


def test_models_trained_in_turn_by_optimizers_that_reuse_a_freed_ones_address_are_kept_apart(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A script that trains models in turn frees each one's optimizer when its turn ends, and the next
    optimizer may get its address (a CLI test failed that way, now and then): an optimizer known by its
    id() would step the previous model. Which address the allocator hands out cannot be arranged, so the
    session's and the facts' id() gives every optimizer the same number here."""
    import builtins

    from deeplocalize.probes import torch_model_facts, torch_session, torch_unit

    def same_for_optimizers(obj: object) -> int:
        return 1 if isinstance(obj, torch.optim.Optimizer) else builtins.id(obj)

    for module in (torch_session, torch_model_facts, torch_unit):
        monkeypatch.setattr(module, "id", same_for_optimizers, raising=False)
    x, y = _blobs()

    def train() -> None:
        torch.manual_seed(0)
        for _ in range(3):
            model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            for i in range(30):
                xb, yb = x[(i * 32) % 256:(i * 32) % 256 + 32], y[(i * 32) % 256:(i * 32) % 256 + 32]
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()

    monitor, _ = _instrumented(train)
    diagnosis = monitor.finish(completed=True)
    assert [d.steps_observed for d in diagnosis.models] == [30] * 3
    assert not any(f.symptom == "unchanged_weights" for d in diagnosis.models for f in d.findings)
    assert all(m.model.optimizer is not None and m.model.optimizer.name == "sgd"
               for m in (monitor, *monitor.siblings))


def test_an_optimizer_whose_model_never_runs_leaves_no_global_hook_after_the_first_step() -> None:
    """Discovery stays on after the first model only for the rest of that step: an optimizer made and never
    used (over a module the loop never calls) must not keep a hook on every later forward."""
    x, y = _blobs()
    hooks = nn.modules.module._global_forward_pre_hooks
    seen: list[int] = []

    def train() -> None:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        unused = nn.Linear(8, 8)
        opt, spare = torch.optim.SGD(model.parameters(), lr=0.05), torch.optim.Adam(unused.parameters())
        for _ in range(3):  # ``spare`` is made and kept, never stepped, its module never called
            opt.zero_grad()
            F.cross_entropy(model(x[:32]), y[:32]).backward()
            opt.step()
            seen.append(len(hooks))
        del spare

    monitor, _ = _instrumented(train)
    assert seen == [0, 0, 0]
    assert monitor.finish(completed=True).steps_observed == 3


def test_a_gan_that_runs_both_backward_passes_before_both_steps_is_still_two_adversaries() -> None:
    """Both losses' backward first, then both optimizers: the discriminator steps on losses of its own output
    too, but on two backward passes, so it does not make the generator a part of itself."""
    torch.manual_seed(0)
    gen, disc = _gan(16)

    def train() -> None:
        opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
        for _ in range(30):
            real = torch.randn(32, 2) * 0.3 + torch.tensor([2.0, -1.0])
            fake = gen(torch.randn(32, 4))
            opt_g.zero_grad()
            opt_d.zero_grad()
            F.binary_cross_entropy_with_logits(disc(fake), torch.ones(32, 1)).backward()
            disc.zero_grad()  # the generator's loss filled the discriminator's gradients
            (F.binary_cross_entropy_with_logits(disc(real), torch.ones(32, 1))
             + F.binary_cross_entropy_with_logits(disc(fake.detach()), torch.zeros(32, 1))).backward()
            opt_g.step()
            opt_d.step()

    monitor, _ = _instrumented(train)
    monitor.finish(completed=True)
    assert all(m.model.extra.get("adversarial") for m in (monitor, *monitor.siblings))
