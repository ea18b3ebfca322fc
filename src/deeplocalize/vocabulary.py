"""The fixed strings of the diagnosis contract (docs/architecture.md): phases, symptoms, root causes.

Other programs parse these values; never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where in the training step a finding was observed."""

    FORWARD = "forward"
    BACKWARD = "backward"
    WEIGHTS = "weights"
    UPDATE = "update"
    LOSS = "loss"
    METRIC = "metric"
    DATA = "data"
    STATIC = "static"


class Symptom(StrEnum):
    """What was observed."""

    NUMERICAL_ERROR = "numerical_error"
    EXPLODING_TENSOR = "exploding_tensor"
    EXPLODING_GRADIENT = "exploding_gradient"
    VANISHING_GRADIENT = "vanishing_gradient"
    DEAD_UNITS = "dead_units"
    SATURATED_ACTIVATION = "saturated_activation"
    CONSTANT_OUTPUT = "constant_output"
    UNCHANGED_WEIGHTS = "unchanged_weights"
    LOSS_NOT_DECREASING = "loss_not_decreasing"
    ACCURACY_NOT_INCREASING = "accuracy_not_increasing"
    OSCILLATING_LOSS = "oscillating_loss"
    SLOW_CONVERGENCE = "slow_convergence"
    OUTPUT_OUT_OF_RANGE = "output_out_of_range"
    UNNORMALIZED_INPUT = "unnormalized_input"
    POOR_INITIALIZATION = "poor_initialization"
    ACTIVATION_LOSS_MISMATCH = "activation_loss_mismatch"
    OVERFITTING = "overfitting"
    LOSS_SPIKE = "loss_spike"
    OVERFLOW_RISK = "overflow_risk"
    LOST_UPDATES = "lost_updates"
    ATTENTION_COLLAPSE = "attention_collapse"
    RANK_DESYNC = "rank_desync"
    #: the model sees the targets it must predict (a missing causal mask; labels equal to the inputs)
    TARGET_LEAK = "target_leak"
    #: a recurrent layer reads the batch dimension as time: the samples of a batch run as one sequence
    BATCH_AS_SEQUENCE = "batch_as_sequence"


class Severity(StrEnum):
    """How much a finding weighs: a fault makes the run faulty; a warning is a risk not (yet) seen to hurt."""

    FAULT = "fault"
    WARNING = "warning"


class Category(StrEnum):
    """Root-cause categories a fix belongs to."""

    ACTIVATION = "activation"
    LOSS = "loss"
    LEARNING_RATE = "learning_rate"
    OPTIMIZER = "optimizer"
    INITIALIZATION = "initialization"
    DATA = "data"
    ARCHITECTURE = "architecture"
    TRAINING = "training"


class Verdict(StrEnum):
    """The answer to "is this training faulty?"."""

    FAULTY = "faulty"
    HEALTHY = "healthy"
    INCONCLUSIVE = "inconclusive"


class OnFault(StrEnum):
    """What to do once a fault is confirmed."""

    STOP = "stop"
    RAISE = "raise"
    WARN = "warn"
    CONTINUE = "continue"


class Channel(StrEnum):
    """What a per-layer statistic in the trace was measured on (internal; maps onto a Phase)."""

    OUTPUT = "output"  # the layer's forward output                      -> Phase.FORWARD
    OUTPUT_GRAD = "output_grad"  # gradient of the loss w.r.t. the output  -> Phase.BACKWARD
    WEIGHTS = "weights"  # the layer's parameters after the step          -> Phase.WEIGHTS
    WEIGHT_GRAD = "weight_grad"  # gradient w.r.t. the parameters          -> Phase.BACKWARD
    UPDATE = "update"  # parameter value after the step minus before     -> Phase.UPDATE
    INPUT = "input"  # the layer's forward input (often only numel/nonfinite) -> Phase.FORWARD
    #: per-head attention entropy / log(keys) of the attention the layer runs (sat_frac: collapsed heads)
    ATTENTION = "attention"  #                                            -> Phase.FORWARD

    @property
    def phase(self) -> Phase:
        return _CHANNEL_PHASE[self]


_CHANNEL_PHASE = {
    Channel.OUTPUT: Phase.FORWARD,
    Channel.OUTPUT_GRAD: Phase.BACKWARD,
    Channel.WEIGHTS: Phase.WEIGHTS,
    Channel.WEIGHT_GRAD: Phase.BACKWARD,
    Channel.UPDATE: Phase.UPDATE,
    Channel.INPUT: Phase.FORWARD,
    Channel.ATTENTION: Phase.FORWARD,
}
