"""Root-cause weights: the prior of every vote a finding casts for a cause, in one place.

A finding votes for root causes with ``CauseHint(category, weight, fix, layer)``. The weight is a prior in
(0, 1]: how likely that cause explains the finding's symptom, given what its detector saw (near 1: a stated
fact, e.g. ``lr == 0``; low: one guess among the many causes a common symptom has). ``diagnose`` groups the
votes of every fault by (category, layer) and combines them with a noisy-OR, ``1 - prod(1 - w)``: several
votes for one cause add up, and the causes are ranked by the result. The values are our own priors; the
benchmark measures the rankings they give (rc@1 / rc@3 on the bug zoo, ``benchmarks/scoring.py``).

Two homes:
- the weights a user may set (``--set``) are fields of ``Config``: ``stuck_vote``, ``structure_vote``,
  ``optimizer_setting_vote``, ``lr_far_vote``, ``lr_low_contradicted_vote`` and the discounts
  ``later_finding_discount`` / ``generic_finding_discount``;
- every other one is here: a named constant per vote, grouped by detector, each with the reason for its
  size; ``DEFAULT_CAUSES`` and ``NUMERICAL_BY_PHASE``, the votes of a finding that carries none.

To add a weight: write ``NAME: Final = 0.x  # why that cause explains the symptom this much`` under its
detector's header (a value in (0, 1]; a vote whose weight depends on a condition gets one constant per
case) and pass it to ``CauseHint`` / ``_common.cause`` as ``cw.NAME`` (``from deeplocalize import causes as
cw``), never a number: ``tests/test_causes.py`` fails on a literal weight. A changed value changes
rankings: rerun the benchmark. Imports ``fixes``, ``vocabulary`` and the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from deeplocalize import fixes
from deeplocalize.fixes import FixFn
from deeplocalize.vocabulary import Category, Phase, Symptom

# -------------------------------------------------- numerical_error (numerical.py)
NAN_INPUT_DATA: Final = 0.9  # a NaN/Inf in the batch itself explains every NaN computed from it
NAN_FORWARD_NON_LAYER_OP: Final = 0.7  # NaN appears between two layers: an op in forward() made it
NAN_FORWARD_AUTOCAST: Final = 0.7  # a layer under float16 autocast overflows past the float16 range
NAN_FORWARD_OVERFLOWING_ACT: Final = 0.6  # exp/log/softmax-like activation overflows on large inputs
NAN_FORWARD_LAYER_OP: Final = 0.6  # a layer made NaN from finite inputs: a division/log/sqrt inside it
NAN_FORWARD_EXPLODED_LR: Final = 0.7  # weights or inputs had exploded before the overflow: steps too large
NAN_LOSS_FUNCTION: Final = 0.8  # NaN loss from a finite output: log(0) or division in the loss
NAN_LOSS_DIVERGED_LR: Final = 0.85  # the loss grew for steps before it overflowed: the training diverged
NAN_LOSS_DIVERGED_LOSS: Final = 0.3  # ... the loss may still be ill-formed, but the divergence came first
NAN_LOSS_LARGE_OUTPUT_LR: Final = 0.4  # the output was already huge before the loss overflowed
NAN_LOSS_OUTPUT_MISMATCH: Final = 0.9  # an output the loss cannot take (no probabilities) made the log(0)
NAN_LOSS_OUTPUT_MISMATCH_LOSS: Final = 0.5  # ... a clipped or logits-based loss would have avoided it too
NAN_BACKWARD_LOSS: Final = 0.8  # finite loss, non-finite gradient of it: the loss' derivative at 0
NAN_BACKWARD_NON_LAYER_OP: Final = 0.6  # a NaN gradient from an op between layers (sqrt/abs/pow at 0)
NAN_BACKWARD_LAYER: Final = 0.6  # a layer's own derivative is not finite at its current input
NAN_UPDATE_LR: Final = 0.7  # finite gradients, NaN weights after the step: the step was too large
NAN_UPDATE_LR_BAD_SETTING: Final = 0.4  # ... lower when a bad optimizer setting (or fp16 weights) explain it
#: float16 weights updated in float16: the optimizer's epsilon (1e-8) and small second moments underflow to 0
NAN_UPDATE_HALF_WEIGHTS: Final = 0.8
NAN_UPDATE_OPTIMIZER: Final = 0.4  # the optimizer's own settings (eps=0) can divide by zero in the step

# -------------------------------------------------- exploding_tensor (exploding.py)
EXPLODING_WEIGHTS_LR: Final = 0.7  # weights that grow huge during training: updates too large
EXPLODING_WEIGHTS_INIT: Final = 0.4  # weights already huge at step 1: the initialization set them so
EXPLODING_OUTPUT_LR: Final = 0.6  # outputs grown huge: steps too large
EXPLODING_OUTPUT_DATA: Final = 0.4  # inputs above |x| = 10 scale every output after them
EXPLODING_OUTPUT_UNBOUNDED: Final = 0.2  # a linear (unbounded) output lets values grow: bound them

# -------------------------------------------------- gradients (gradients.py, gradient_reset.py)
GRAD_NOT_RESET: Final = 0.95  # the probe saw the gradients never reset between steps (no zero_grad())
GRAD_ACCUMULATING_ZERO_GRAD: Final = 0.8  # gradients that rise step after step: zero_grad() is missing
GRAD_ACCUMULATING_LR: Final = 0.3  # ... if they are reset each step, too-large steps
GRAD_GROWTH_LR: Final = 0.7  # one layer's gradient grew many-fold while the loss does not improve
GRAD_RATIO_DATA: Final = 0.5  # inputs above |x| = 10 scale the gradient of the first layer
GRAD_RATIO_LR: Final = 0.4  # first/last gradient ratio too large: lower the lr or clip
GRAD_RATIO_INIT: Final = 0.3  # the gradient grows layer by layer toward the input: initialization scale
GRAD_RATIO_NORMALIZATION: Final = 0.2  # ... or no normalization between the first and last layer
VANISHING_SATURATING_ACT: Final = 0.6  # hidden sigmoid/tanh layers squash the gradient passing through
VANISHING_INIT: Final = 0.3  # too-small initial weights shrink the gradient at every layer
VANISHING_INIT_MEASURED: Final = 0.8  # ... measured: the weights started far below the default scale
VANISHING_DEPTH: Final = 0.3  # depth without normalization or residual paths lets it fade
RECURRENT_NO_GRADIENT: Final = 0.8  # exactly-zero recurrent gradients: the wrong time step is read

# -------------------------------------------------- dead_units, saturated (activations.py)
DEAD_INIT_FROM_START: Final = 0.6  # units dead from step 1: the initial weights/biases made them so
DEAD_INIT_LATER: Final = 0.2  # ... units that died later: the initialization is a weak suspect
DEAD_ACTIVATION: Final = 0.4  # relu can die, leaky_relu/elu cannot
DEAD_LR_FROM_START: Final = 0.2  # ... units dead from step 1: no step had happened yet
DEAD_LR_LATER: Final = 0.6  # units that died during training: a large step pushed them below 0
SATURATED_ACT: Final = 0.5  # a sigmoid/tanh hidden layer saturates; relu does not
SATURATED_DATA_FROM_START: Final = 0.4  # inputs above |x| = 10 saturate the layer from the first step
SATURATED_DATA_LATER: Final = 0.2  # ... saturated only later: the inputs were the same before
SATURATED_INIT_FROM_START: Final = 0.3  # saturated from step 1: the initial weights are too large
SATURATED_LR_LATER: Final = 0.4  # saturated during training: steps too large

# -------------------------------------------------- constant_output (constant.py)
CONSTANT_SOFTMAX_ONE_UNIT: Final = 0.8  # softmax over one unit is always 1.0, whatever the input
CONSTANT_SOFTMAX_ONE_UNIT_LOSS: Final = 0.4  # ... and one output unit calls for a binary cross-entropy
CONSTANT_ZERO_WEIGHTS: Final = 0.7  # all-zero weights make the output independent of the input
CONSTANT_SATURATED: Final = 0.5  # a sigmoid/tanh stuck at one value: its inputs saturate it
CONSTANT_SATURATED_LR: Final = 0.3  # ... large steps can have pushed it there
CONSTANT_UPSTREAM: Final = 0.3  # the output ignores the input: dead or saturated layers before it

# -------------------------------------------------- unchanged_weights (weights.py)
UNCHANGED_LR_FAR_LOW: Final = 0.9  # an lr far below the usual range explains weights that do not move
UNCHANGED_LR_ZERO: Final = 0.9  # lr == 0: a stated fact, no weight can move
UNCHANGED_KERAS_FROZEN: Final = 0.7  # fit() steps the optimizer: what is left is trainable=False
UNCHANGED_NO_OPTIMIZER_STEP: Final = 0.8  # gradients but no change: optimizer.step() missing or other params
UNCHANGED_OPTIMIZER_SETTINGS: Final = 0.3  # ... or the optimizer's settings keep it from moving them
UNCHANGED_LAYER_NOT_IN_OPTIMIZER: Final = 0.7  # one layer gets gradients but never changes: not optimized
UNCHANGED_LAYER_PARAM_GROUPS: Final = 0.3  # ... or its parameter group has lr 0 or a mask
UNCHANGED_NO_GRADIENT: Final = 0.8  # .grad stays None: no_grad()/detach() cuts it from the loss
UNCHANGED_FIXED_PART: Final = 0.5  # no gradient and no optimizer step: a teacher, a target network
FROZEN_MODEL: Final = 0.9  # every parameter frozen: a stated fact, nothing can be learned

# -------------------------------------------------- poor_initialization (initialization.py)
INIT_CONSTANT_KERNEL: Final = 0.9  # a zero/constant hidden kernel keeps its units symmetric forever
INIT_SCALE: Final = 0.8  # initial weight scale far outside the He/Glorot range
INIT_DEAD_AT_BIRTH: Final = 0.8  # ReLU units dead at step 1: the initial biases/weights
INIT_VARIANCE_DRIFT: Final = 0.7  # activation variance grows or shrinks per layer at step 1

# -------------------------------------------------- curves (curves.py)
LOSS_FLAT_LR: Final = 0.5  # a loss that does not move: the lr is the first suspect, direction unknown
LOSS_FLAT_OPTIMIZER: Final = 0.25  # ... or a poorly suited optimizer
LOSS_FLAT_INIT: Final = 0.2  # ... or an initialization it cannot leave
LOSS_FLAT_AT_CHANCE_DATA: Final = 0.2  # ... at chance: labels that do not match their inputs
LOSS_RISING_LR: Final = 0.7  # a loss that rises without NaN: the steps overshoot
WORSE_THAN_CHANCE_DATA: Final = 0.4  # worse than a constant prediction: unscaled inputs
WORSE_THAN_CHANCE_LR: Final = 0.35  # ... or the learning rate (direction unknown)
WORSE_THAN_CHANCE_INIT: Final = 0.2  # ... or an initialization far off
OSCILLATING_LR: Final = 0.8  # large swings above the initial loss: steps too large
OSCILLATING_BATCH: Final = 0.2  # ... small batches make noisy updates
OSCILLATING_CLIP: Final = 0.15  # ... or clip the gradients to damp the largest steps
SLOW_LR: Final = 0.7  # a loss that barely moves, no healthy update pace seen: lr too low
SLOW_OPTIMIZER: Final = 0.3  # ... or a slow optimizer (plain SGD)
SHORT_TRAINING: Final = 0.8  # the run ended at chance after a handful of steps: too few steps
NARROW_BOTTLENECK: Final = 0.8  # a one-unit hidden layer squeezes every sample through one number

# -------------------------------------------------- unconverged_at_end (unconverged.py), a warning
UNCONVERGED_TRAINING: Final = 0.6  # the loss still fell steadily when the run ended: train longer
UNCONVERGED_LR: Final = 0.4  # ... or take larger steps

# -------------------------------------------------- metrics (metrics.py)
ACCURACY_FLAT_LR: Final = 0.45  # an accuracy that does not move: the lr is the first suspect
ACCURACY_FLAT_OPTIMIZER: Final = 0.2  # ... or a poorly suited optimizer
ACCURACY_FLAT_DATA: Final = 0.2  # ... or labels that do not match their inputs
OVERFITTING_REGULARIZE: Final = 0.7  # val_loss rises while the training loss falls: too little regularization
OVERFITTING_MODEL_SIZE: Final = 0.3  # ... or a model too large for the data
VALIDATION_MISMATCH: Final = 0.8  # val_loss never improves while training learns: data prepared differently

# -------------------------------------------------- low precision (precision.py)
LOST_UPDATES_MASTER_WEIGHTS: Final = 0.7  # updates below the dtype's resolution: keep fp32 master weights
LOST_UPDATES_LR: Final = 0.3  # ... larger steps would survive the rounding
OVERFLOW_RISK_HEADROOM: Final = 0.5  # float16 outputs near 65504: keep the layer in float32 or bound it
OVERFLOW_RISK_LR: Final = 0.3  # ... growing outputs: steps may be too large

# -------------------------------------------------- loss_spike (loss_spike.py)
SPIKE_CLIP_REPEATED: Final = 0.4  # repeated or unrecovered spikes: clipping bounds every step
SPIKE_CLIP_ONCE: Final = 0.3  # one spike the run recovered from
SPIKE_BATCH_REPEATED: Final = 0.3  # repeated or unrecovered: one bad batch explains it less
SPIKE_BATCH_ONCE: Final = 0.5  # one spike the run recovered from: most likely one bad batch
SPIKE_LR_REPEATED: Final = 0.5  # repeated or unrecovered spikes: the lr is too high
SPIKE_LR_ONCE: Final = 0.3  # one spike the run recovered from

# -------------------------------------------------- pre-flight (preflight*.py)
HIDDEN_SOFTMAX: Final = 0.8  # softmax on a hidden layer saturates its units and passes little gradient
INITIAL_LOSS_INIT: Final = 0.7  # a first loss far above -log(1/K): over-confident initial outputs
INITIAL_LOSS_INIT_RAW_INPUT: Final = 0.35  # ... with unnormalized input, which explains large logits too
INITIAL_LOSS_RAW_INPUT_DATA: Final = 0.65  # ... and the unnormalized input then comes first
INPUT_NOT_NORMALIZED: Final = 0.9  # values far outside [-10, 10] or scales orders apart: a measured fact
NORMALIZER_BYPASS: Final = 0.8  # raw-scale values reach a weighted layer past the normalizer
NORMALIZER_BYPASS_DATA: Final = 0.5  # ... or normalize the data before the model
TARGET_SCALE: Final = 0.85  # regression targets far from the initial outputs' scale
LOSS_BROADCAST: Final = 0.9  # outputs and targets of different shapes broadcast: a measured fact of the call

# -------------------------------------------------- output vs loss vs labels (preflight_output.py)
# A static fact about the model (the activation, the loss, the units) explains the mismatch it makes: the
# part at fault gets a high weight; the alternative fix of the other part, a lower one.
OUTPUT_SOFTMAX_ONE_UNIT: Final = 0.9  # softmax over one unit always outputs 1.0
OUTPUT_SOFTMAX_ONE_UNIT_LOSS: Final = 0.4  # ... or two units with a categorical loss
OUTPUT_SOFTMAX_BATCH_AXIS: Final = 0.85  # softmax normalized over the batch, not the classes
OUTPUT_SQUASHED_LOGITS: Final = 0.85  # softmax/sigmoid/relu/tanh before a loss that expects logits
OUTPUT_SQUASHED_LOGITS_LOSS_SOFTMAX: Final = 0.45  # ... a softmax can stay with log + NLLLoss
OUTPUT_SQUASHED_LOGITS_LOSS: Final = 0.3  # ... any other squashing: changing the loss fits less well
OUTPUT_NOT_PROBABILITIES: Final = 0.85  # the loss expects probabilities, the output is not softmax
OUTPUT_NOT_PROBABILITIES_LOSS_LINEAR: Final = 0.55  # ... a linear/relu output is logits: from_logits=True
OUTPUT_NOT_PROBABILITIES_LOSS: Final = 0.3  # ... another activation: from_logits fits less well
OUTPUT_TOO_FEW_UNITS: Final = 0.85  # one output unit, labels span more than two classes
OUTPUT_TOO_FEW_UNITS_ACT: Final = 0.5  # ... and the widened layer needs softmax
OUTPUT_ONE_UNIT_CATEGORICAL_LOSS: Final = 0.85  # categorical CE over one unit is always 0
OUTPUT_ONE_UNIT_CATEGORICAL_ARCH: Final = 0.3  # ... or one unit per class
OUTPUT_MULTI_LABEL_LOSS: Final = 0.8  # exclusive-class loss on multi-label targets
OUTPUT_MULTI_LABEL_ACT: Final = 0.5  # ... with sigmoid on the output layer
OUTPUT_NLL_ACT: Final = 0.8  # NLLLoss without LogSoftmax
OUTPUT_NLL_LOSS: Final = 0.5  # ... or drop the activation and use CrossEntropyLoss
OUTPUT_SOFTMAX_MULTI_LABEL: Final = 0.85  # softmax makes multi-label targets compete
OUTPUT_SOFTMAX_MULTI_LABEL_LOSS: Final = 0.25  # ... the binary loss is already right: keep it
OUTPUT_SOFTMAX_BINARY_LOSS: Final = 0.7  # softmax over one-hot classes with a binary loss (a warning)
OUTPUT_SOFTMAX_BINARY_ACT: Final = 0.3  # ... or sigmoid if the labels are independent
OUTPUT_DOUBLE_SIGMOID: Final = 0.85  # sigmoid before a loss that applies its own
OUTPUT_DOUBLE_SIGMOID_LOSS: Final = 0.45  # ... or keep it and use BCELoss
OUTPUT_BINARY_NOT_PROBABILITIES: Final = 0.85  # binary loss expects probabilities, the output is not sigmoid
OUTPUT_BINARY_NOT_PROBABILITIES_LOSS: Final = 0.55  # ... or keep it linear and use the logits loss
OUTPUT_REGRESSION_LOSS_ON_CLASSES: Final = 0.8  # a regression loss on one-hot class labels
OUTPUT_REGRESSION_LOSS_ON_CLASSES_ACT: Final = 0.3  # ... the output should give class scores for that loss
OUTPUT_BCE_MULTICLASS_LOSS: Final = 0.8  # class indices 0..K-1 fed to a binary loss
OUTPUT_BCE_MULTICLASS_UNITS: Final = 0.75  # ... and the one-unit head needs K units
OUTPUT_BCE_LABEL_RANGE: Final = 0.8  # binary loss on labels outside [0, 1]: map them to 0/1
OUTPUT_BCE_LABEL_RANGE_LOSS: Final = 0.3  # ... or a loss made for those labels
OUTPUT_CLASS_LABEL_RANGE: Final = 0.6  # class labels outside 0..units-1: re-encode them ...
OUTPUT_CLASS_LABEL_RANGE_UNITS: Final = 0.6  # ... or widen the output: either side may be wrong
OUTPUT_BOUNDED_TARGETS: Final = 0.8  # a bounded output activation cannot reach the targets
OUTPUT_BOUNDED_TARGETS_DATA: Final = 0.4  # ... or scale the targets into its range

# -------------------------------------------------- blow_up (blow_up.py)
BLOW_UP_LR: Final = 0.85  # the loss blew up after the first updates and never came back: steps far too large
BLOW_UP_OPTIMIZER: Final = 0.3  # ... clipping (or a warm-up) keeps one step from throwing the weights off

# -------------------------------------------------- target_leak (target_leak.py)
TARGET_LEAK_CAUSAL_MASK: Final = 0.95  # shifted targets + attention to later keys: the mask is missing
TARGET_LEAK_UNSHIFTED: Final = 0.95  # each target is its own position's input token: labels not shifted
TARGET_LEAK_TARGETS_AS_INPUT: Final = 0.9  # a later input (decoder inputs) is the targets: feed them shifted
TARGET_LEAK_TARGETS_AS_INPUT_LOSS: Final = 0.4  # ... or score each position against the next target

# -------------------------------------------------- batch_as_sequence (preflight.py)
BATCH_AS_SEQUENCE: Final = 0.9  # (batch, time, features) into a recurrent layer without batch_first=True

# -------------------------------------------------- rank_desync (probes/torch_dist.py)
RANK_DESYNC: Final = 0.8  # replicas whose weights differ: the ranks were not kept in sync

# -------------------------------------------------- run-wide votes (diagnose.py)
UPDATE_RATIO_HIGH_LR: Final = 0.7  # update/weight ratio above lr_update_ratio_high (DeepDiagnosis)
UPDATE_RATIO_LOW_LR: Final = 0.6  # ratio below lr_update_ratio_low (DeepDiagnosis): steps too small
RUN_UNNORMALIZED_INPUT: Final = 0.4  # unnormalized input found at pre-flight explains this symptom too
RUN_LARGE_TARGETS: Final = 0.5  # regression targets above config.target_abs_max explain this symptom
#: ``stuck_hints``: the activation vote for stacked linear layers, this fraction of ``structure_vote``
#: (the same fact, told as the other fix: the architecture vote leads)
LINEAR_STACK_ACTIVATION_FACTOR: Final = 0.9
#: ``stuck_hints``: the vote for a recurrent layer's layout at chance, this fraction of ``stuck_vote``
#: (an "or" next to the labels vote, which leads)
RECURRENT_LAYOUT_FACTOR: Final = 0.9


# -------------------------------------------------- default votes
@dataclass(frozen=True)
class Default:
    """A default vote: category, weight, fix text helper, and whether it points at the finding's layer."""

    category: Category
    weight: float
    fix: FixFn
    at_layer: bool = False


_D = Default
_LR, _OPT, _ACT = Category.LEARNING_RATE, Category.OPTIMIZER, Category.ACTIVATION
_INIT, _DATA, _ARCH = Category.INITIALIZATION, Category.DATA, Category.ARCHITECTURE
_TRAIN, _LOSS = Category.TRAINING, Category.LOSS

#: Default causes per symptom, for findings that carry none (weights: our prior of each cause, 0..1).
DEFAULT_CAUSES: dict[Symptom, list[Default]] = {
    Symptom.NUMERICAL_ERROR: [
        _D(_LR, 0.5, fixes.lower_lr), _D(_ACT, 0.4, fixes.guard_operation, True)],
    Symptom.EXPLODING_TENSOR: [
        _D(_LR, 0.6, fixes.lower_lr), _D(_INIT, 0.3, fixes.reinitialize, True),
        _D(_ARCH, 0.2, fixes.add_normalization, True)],
    Symptom.EXPLODING_GRADIENT: [
        _D(_LR, 0.6, fixes.lower_lr), _D(_OPT, 0.3, fixes.clip_gradients, True),
        _D(_INIT, 0.3, fixes.reinitialize, True), _D(_TRAIN, 0.2, fixes.zero_grad)],
    Symptom.VANISHING_GRADIENT: [
        _D(_ACT, 0.6, fixes.gradient_path, True), _D(_INIT, 0.4, fixes.reinitialize, True),
        _D(_ARCH, 0.3, fixes.add_normalization, True)],
    Symptom.DEAD_UNITS: [
        _D(_ACT, 0.5, fixes.leaky_activation, True), _D(_LR, 0.5, fixes.lower_lr),
        _D(_INIT, 0.3, fixes.reinitialize, True)],
    Symptom.SATURATED_ACTIVATION: [
        _D(_ACT, 0.5, fixes.unsaturating_activation, True), _D(_DATA, 0.4, fixes.normalize_inputs),
        _D(_INIT, 0.4, fixes.reinitialize, True)],
    Symptom.CONSTANT_OUTPUT: [
        _D(_ACT, 0.6, fixes.fix_output_activation, True), _D(_LR, 0.3, fixes.tune_lr),
        _D(_INIT, 0.3, fixes.reinitialize, True)],
    Symptom.UNCHANGED_WEIGHTS: [
        _D(_TRAIN, 0.6, fixes.unfreeze, True), _D(_LR, 0.4, fixes.tune_lr)],
    Symptom.LOSS_NOT_DECREASING: [
        _D(_LR, 0.4, fixes.tune_lr), _D(_OPT, 0.3, fixes.better_optimizer),
        _D(_DATA, 0.2, fixes.check_labels)],
    Symptom.ACCURACY_NOT_INCREASING: [
        _D(_LR, 0.4, fixes.tune_lr), _D(_OPT, 0.3, fixes.better_optimizer),
        _D(_DATA, 0.2, fixes.check_labels)],
    Symptom.OSCILLATING_LOSS: [
        _D(_LR, 0.7, fixes.lower_lr), _D(_OPT, 0.2, fixes.clip_gradients)],
    Symptom.SLOW_CONVERGENCE: [
        _D(_LR, 0.6, fixes.raise_lr), _D(_OPT, 0.4, fixes.better_optimizer)],
    Symptom.OUTPUT_OUT_OF_RANGE: [
        _D(_ACT, 0.7, fixes.fix_output_activation, True), _D(_DATA, 0.4, fixes.check_labels)],
    Symptom.UNNORMALIZED_INPUT: [
        _D(_DATA, 0.9, fixes.normalize_inputs)],
    Symptom.POOR_INITIALIZATION: [
        _D(_INIT, 0.7, fixes.reinitialize, True), _D(_DATA, 0.3, fixes.normalize_inputs)],
    Symptom.ACTIVATION_LOSS_MISMATCH: [
        _D(_ACT, 0.7, fixes.fix_output_activation, True), _D(_LOSS, 0.6, fixes.change_loss)],
    Symptom.OVERFITTING: [
        _D(_TRAIN, 0.7, fixes.regularize), _D(_ARCH, 0.3, fixes.smaller_model)],
    Symptom.LOSS_SPIKE: [
        _D(_DATA, 0.5, fixes.inspect_batch), _D(_LR, 0.4, fixes.lower_lr),
        _D(_OPT, 0.3, fixes.clip_gradients, True)],
    Symptom.OVERFLOW_RISK: [
        _D(_ARCH, 0.5, fixes.overflow_headroom, True), _D(_LR, 0.3, fixes.lower_lr)],
    Symptom.LOST_UPDATES: [
        _D(_OPT, 0.7, fixes.fp32_master_weights, True), _D(_LR, 0.3, fixes.raise_lr)],
    Symptom.ATTENTION_COLLAPSE: [
        _D(_ARCH, 0.6, fixes.attention_temperature, True), _D(_LR, 0.4, fixes.lower_lr)],
    Symptom.RANK_DESYNC: [
        _D(_TRAIN, 0.8, fixes.resync_ranks, True)],
    Symptom.TARGET_LEAK: [
        _D(_ARCH, 0.6, fixes.causal_mask, True), _D(_LOSS, 0.4, fixes.shift_labels)],
    Symptom.BATCH_AS_SEQUENCE: [
        _D(_ARCH, 0.9, fixes.batch_first, True)],
}

#: Phase-specific defaults for a numerical error: where the NaN/Inf appeared says what produced it.
NUMERICAL_BY_PHASE: dict[Phase, list[Default]] = {
    Phase.LOSS: [_D(_LOSS, 0.7, fixes.stable_loss), _D(_LR, 0.3, fixes.lower_lr)],
    Phase.DATA: [_D(_DATA, 0.9, fixes.clean_data)],
    Phase.UPDATE: [_D(_LR, 0.8, fixes.lower_lr), _D(_OPT, 0.3, fixes.clip_gradients)],
    Phase.WEIGHTS: [_D(_LR, 0.8, fixes.lower_lr), _D(_OPT, 0.3, fixes.clip_gradients)],
    Phase.BACKWARD: [_D(_LR, 0.5, fixes.lower_lr), _D(_OPT, 0.3, fixes.clip_gradients, True),
                     _D(_ACT, 0.3, fixes.guard_operation, True)],
}
