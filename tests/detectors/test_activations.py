"""dead_units and saturated_activation: sustained, per-unit evidence only, hidden layers only."""

from __future__ import annotations

from builders import layer, model, simulate_mlp, trace_of, vec

from deeplocalize.config import Config
from deeplocalize.detectors.activations import dead_units, saturated_activation
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

INFO = model(
    [
        layer(0, "fc1", "Linear", "linear", 10, 90),
        layer(1, "relu1", "ReLU", "relu", 10),
        layer(2, "fc2", "Linear", "sigmoid", 10, 110),
        layer(3, "out", "Linear", "sigmoid", 1, 11),
        layer(4, "leaky", "LeakyReLU", "leaky_relu", 10),
    ],
    lr=0.5,
)


def trace(col: str, values: list[float], index: int, numel: int = 320,
          losses: list[float] | None = None) -> object:
    losses = losses or [1.0] * len(values)
    return trace_of(
        [
            StepRecord(step=s, loss=loss, lr=0.5, stats={(index, Channel.OUTPUT): vec(numel, **{col: v})})
            for s, (v, loss) in enumerate(zip(values, losses, strict=True), start=1)
        ]
    )


def test_units_dying_during_training_blame_the_learning_rate() -> None:
    found = dead_units(trace("dead_frac", [0.1] * 5 + [0.8] * 15, 1), INFO, Config())
    assert [(f.symptom, f.phase, f.layer.name, f.step) for f in found] == [
        (Symptom.DEAD_UNITS, Phase.FORWARD, "relu1", 6)
    ]
    assert found[0].causes[0].category == Category.LEARNING_RATE and "lr=0.5" in found[0].causes[0].fix


def test_units_dead_from_the_start_blame_the_initialization_of_the_layer_before() -> None:
    sim = simulate_mlp(bias_init=-10.0, steps=20)
    found = dead_units(sim.trace, sim.model, Config())
    assert {f.layer.name for f in found} == {"act0", "act1"}
    first = next(f for f in found if f.layer.name == "act0")
    assert first.causes[0].category == Category.INITIALIZATION and first.causes[0].layer.name == "fc0"


def test_not_dead_enough_too_short_too_few_samples_or_not_relu() -> None:
    assert dead_units(trace("dead_frac", [0.6] * 20, 1), INFO, Config()) == []
    assert dead_units(trace("dead_frac", [0.1] * 15 + [0.9] * 5, 1), INFO, Config()) == []
    assert dead_units(trace("dead_frac", [0.9] * 20, 1, numel=10), INFO, Config()) == []  # batch of 1
    assert dead_units(trace("dead_frac", [0.9] * 20, 4), INFO, Config()) == []  # leaky_relu cannot die


def test_dead_units_are_a_fault_when_the_loss_stalls_or_the_whole_layer_died_else_a_warning() -> None:
    """Most units dead in a run that learned (the live ones carry the learning, as in a fine-tuned head fed
    sparse features), even once its loss is flat (converged), is a risk, not a failure; a loss that never
    fell below its start is one once the run cannot learn any more (provisional before), and a layer with
    no live unit is one at once."""
    learned_then_flat = [1.0 - 0.1 * s for s in range(6)] + [0.4] * 14
    warned = dead_units(trace("dead_frac", [0.75] * 20, 1, losses=learned_then_flat), INFO, Config())
    assert [(f.severity, f.evidence["learned_since_start"]) for f in warned] == [(Severity.WARNING, True)]
    assert "fell well below its start" in warned[0].message
    early = dead_units(trace("dead_frac", [0.75] * 20, 1), INFO, Config())  # a run still going: it may learn
    assert [(f.severity, f.evidence.get("provisional")) for f in early] == [(Severity.WARNING, True)]
    ended = trace("dead_frac", [0.75] * 20, 1)
    ended.completed = True  # the run ended without learning: the dead units stopped it
    stalled = dead_units(ended, INFO, Config())
    assert [(f.severity, f.evidence["learned_since_start"]) for f in stalled] == [(Severity.FAULT, False)]
    assert "provisional" not in stalled[0].evidence
    all_dead = dead_units(trace("dead_frac", [1.0] * 20, 1, losses=learned_then_flat), INFO, Config())
    assert [f.severity for f in all_dead] == [Severity.FAULT]


def test_saturated_hidden_sigmoid_names_the_activation_and_the_share() -> None:
    found = saturated_activation(trace("sat_frac", [0.93] * 20, 2), INFO, Config())
    assert [(f.symptom, f.layer.name) for f in found] == [(Symptom.SATURATED_ACTIVATION, "fc2")]
    assert "uses sigmoid and 93% of its outputs are saturated: use relu" in found[0].causes[0].fix


def test_saturated_output_layer_is_a_confident_classifier_not_a_fault() -> None:
    assert saturated_activation(trace("sat_frac", [0.99] * 20, 3), INFO, Config()) == []
    assert saturated_activation(trace("sat_frac", [0.4] * 20, 2), INFO, Config()) == []


def test_healthy_runs_have_no_dead_or_saturated_layers() -> None:
    for kw in (
        {},
        {"acts": "tanh"},
        {"acts": "sigmoid"},
        {"batch": 1, "lr": 0.01},
        {"widths": (4, 256, 256, 3)},
    ):
        sim = simulate_mlp(steps=60, **kw)
        assert dead_units(sim.trace, sim.model, Config()) == [], kw
        assert saturated_activation(sim.trace, sim.model, Config()) == [], kw


def _functional(grad: float, seen_max: float, steps: int = 40) -> object:
    """fc1 -> a relu in forward() -> fc2: fc1's gradient norm and the range of what fc2 receives."""
    return trace_of([StepRecord(step=s, loss=2.303, stats={
        (0, Channel.WEIGHT_GRAD): vec(8320, norm=grad), (1, Channel.WEIGHT_GRAD): vec(1290, norm=0.1),
        (1, Channel.INPUT): vec(8192, min=0.0, max=seen_max)}) for s in range(1, steps + 1)])


def test_a_relu_in_forward_with_every_unit_dead_is_named_at_the_layer_before_it() -> None:
    """``torch.relu(self.fc1(x))`` with fc1's bias at -4: fc2 receives only zeros and fc1 gets an exactly zero
    gradient; no ReLU layer exists to measure, so the two facts name fc1."""
    info = model([layer(0, "fc1", "Linear", "linear", 128, 8320),
                  layer(1, "fc2", "Linear", "linear", 10, 1290)])
    found = dead_units(_functional(grad=0.0, seen_max=0.0), info, Config())
    assert [(f.symptom, f.layer.name, f.severity) for f in found] == [
        (Symptom.DEAD_UNITS, "fc1", Severity.FAULT)]
    assert found[0].causes[0].category == Category.INITIALIZATION and "relu" in found[0].causes[1].fix
    assert dead_units(_functional(grad=0.0, seen_max=0.7), info, Config()) == []  # some units pass
    assert dead_units(_functional(grad=0.3, seen_max=0.0), info, Config()) == []  # gradient flows
