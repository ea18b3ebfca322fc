"""Every threshold and cadence of deeplocalize, in one dataclass.

Each field carries its default, its unit and where the default comes from (a prior tool, named with its
rule, or our own calibration on the bug zoo and the healthy suite together).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class Config:
    """Thresholds and cadences. Override any of them: ``Config(dead_frac=0.9)`` or ``config.replace(...)``."""

    # ---------------------------------------------------------------- probing cadence and bounds
    #: Steps between full statistics (min/max/mean/std/norm/zero/dead/saturation). Every step regardless:
    #: the loss, a one-pass finiteness flag per activation and output gradient (read from the bias
    #: gradient where that sums it) and one fused norm over all parameters/gradients, so NaN/Inf latency
    #: stays 0 steps. Own calibration (benchmarks/overhead, CPU, docs/performance.md): a full step costs
    #: ~0.4-0.5x of a small CNN's step, so 20 adds ~2-3% on average where 10 adds ~4-5%; 20 is the most
    #: the trend detectors allow (10 full points in 200 steps).
    stats_every: int = 20
    #: Statistics steps are every ``stats_every`` steps for the first ``stats_dense_steps`` steps (and for
    #: as many steps after anything that may announce a fault: a finding, an lr change, a loss jump); then,
    #: while healthy, the gap doubles up to ``stats_every_max`` (steps; see ``cadence.py``). Own choice:
    #: most faults show in the first few hundred steps (verdicts within 200 steps are the aim); wandb
    #: ``watch`` logs every 1,000 by default for its cost.
    stats_dense_steps: int = 300
    stats_every_max: int = 200
    #: An lr at least this factor above or below the previous step's makes statistics dense again (ratio):
    #: a step schedule's drop or a manual bump; a warm-up or cosine schedule changes far less per step.
    lr_change_factor: float = 2.0
    #: A loss above this multiple of the median of the last 64 steps makes statistics dense again (ratio).
    loss_jump_ratio: float = 3.0
    #: False: statistics steps keep their schedule whatever happens (no densifying after a finding, an lr
    #: change, a loss jump): a cost that does not depend on the run, for a later verdict on a late fault.
    stats_adaptive: bool = True
    #: Steps between runs of the trend detectors (the per-step numerical checks run every step). Own
    #: calibration: a pass costs 4-9 ms on CPU; at the stats cadence it adds under ~0.4 ms per step.
    check_every: int = 20
    #: ... and at most this many steps apart once statistics steps have become sparse (``cadence.py``):
    #: a stall that starts late is judged within this many steps (steps). Own choice.
    check_every_max: int = 100
    #: In a distributed job, the ranks agree whether to stop every this many steps (one small collective:
    #: 0.4-1.3 ms of CPU on 2-4 gloo ranks here, docs/distributed.md, so not every step), and at once at a
    #: step whose replicated (DDP) gradients are non-finite, which every rank sees at the same step (steps).
    #: A fault confirmed on one rank stops every rank at the next agreement. Own choice: check_every.
    rank_agree_every: int = 20
    #: ... once, at the first agreement, every rank checks that every other rank is watched too, waiting
    #: this long for them (seconds): a job where only some ranks are watched is never stopped (a rank that
    #: stopped alone would leave the others waiting in their next collective). Own choice.
    rank_join_timeout_s: float = 30.0
    window: int = 512  #: Steps kept in full in the in-process trace.
    history: int = 512  #: Older steps kept, down-sampled (the stride doubles when full).
    #: Fewer steps than this and no finding: the verdict is "inconclusive", never "healthy" or "faulty".
    #: Equal to curve_min_steps: below it the trend detectors have not been able to judge the run.
    min_steps_for_verdict: int = 70

    # ---- tensor detectors (numerical, gradients, activations, weights, init)
    #: A sustained per-layer symptom (dead, saturated, constant, vanishing, exploding ratio) must hold in at
    #: least tensor_sustain_frac of the last tensor_min_points measured steps (steps). Own choice: 10 steps
    #: leaves one check_every period; DeepLocalize used 5 batches, which raised its false alarms.
    tensor_min_points: int = 10
    #: With full statistics every k = stats_every steps, the same span needs ceil(tensor_min_points / k)
    #: measured points, but at least this many (points): 4 points = steps 1-61 at k = 20, so per-layer
    #: symptoms are confirmed within the first 200 steps. Calibrated on the bug zoo + healthy suite
    #: together (no false alarm at 4; 3 let a healthy LSTM's early gradient rise through).
    tensor_min_points_sparse: int = 4
    #: See tensor_min_points (fraction).
    tensor_sustain_frac: float = 0.9
    #: dead_frac / sat_frac are judged only when each unit saw at least this many values (numel / units):
    #: with batch size 1 half of a healthy ReLU layer is "dead" on that one sample (values). Own choice.
    min_values_per_unit: int = 8
    #: Weights with a finite |w| at or above this have exploded (weight units). Own calibration: healthy
    #: layers stay below ~10; SGD with a far too high lr passes 1e4 a few steps before overflowing.
    exploding_weight_abs: float = 1e4
    #: A forward output with |x| at or above this AND exploding_output_vs_data times the largest |input| or
    #: |target| has exploded (value units, ratio). Own choice: values far beyond anything in the data.
    exploding_output_abs: float = 1e6
    exploding_output_vs_data: float = 1e3
    #: A NaN/Inf loss after a loss that grew this many times above its recent low, or (``blow_up``) an early
    #: loss this many times the first one: the run diverged (the learning rate), the loss is not ill-formed
    #: (ratio). Own choice: a mini-batch loss never swings 10x within 50 steps of a healthy run.
    diverging_loss_growth: float = 10.0
    #: Exploding gradient: gradient-norm ratio first layer / last layer above this (ratio). AUTOTRAINER: 70.
    exploding_grad_ratio: float = 70.0
    #: Exploding gradient: a layer's gradient norm grew by this factor from the start of the window while the
    #: loss did not improve (ratio; under an adaptive optimizer, from the largest layer gradient of the start:
    #: its steps do not grow with the gradient). Own choice.
    exploding_grad_growth: float = 1e3
    #: Accumulating gradients (missing zero_grad): the global gradient norm rose in at least accum_rise_frac
    #: of accum_min_steps consecutive measured steps, by accum_growth in total, with the loss not improving by
    #: more than 10% (steps, fraction, ratio). Own calibration: minibatch noise makes healthy norms zig-zag.
    accum_min_steps: int = 20
    #: ... or, when full statistics come every k > 1 steps, at least this many measured points spanning
    #: accum_min_steps steps or more (points). Calibrated on the bug zoo + healthy suite together (healthy
    #: gradient norms never rise 3 times in a row by 5x while the loss does not improve).
    accum_min_points: int = 4
    accum_rise_frac: float = 0.9
    accum_growth: float = 5.0
    #: Vanishing gradient: a layer's RMS gradient norm/sqrt(numel) (>= mean |g|) below this (gradient units).
    #: SageMaker VanishingGradient: mean |g| < 1e-7.
    vanishing_grad_abs: float = 1e-7
    #: Vanishing gradient: ||g_first|| / ||g_last|| below this with ||g_first|| below vanishing_first_norm
    #: (ratio, gradient units). AUTOTRAINER: 1e-3 and 1e-4.
    vanishing_grad_ratio: float = 1e-3
    vanishing_first_norm: float = 1e-4
    #: Vanishing gradient, rule 3 (``gradient_chain``): the weight-gradient norm at least
    #: vanishing_chain_factor smaller at each of the first vanishing_chain_layers layer-to-layer steps from
    #: the output side towards the input (layers, ratio). Own choice, from the derivative of a saturating
    #: activation (sigmoid <= 1/4); checked on the calibration half, the zoo and the transformer zoo: only
    #: their two deep-sigmoid programs fade by 2x at even 3 layers in a row (at 8 and 5), no other run does.
    vanishing_chain_layers: int = 4
    vanishing_chain_factor: float = 2.0
    #: Vanishing gradient: the initialization is a stated cause when the kernel layers the gradient
    #: vanished through started, at their median, this many times below the smallest default scale for
    #: their fan-in (PyTorch's 1/sqrt(3 fan_in), Glorot), with no normalization layer among them (ratio).
    #: Own choice: healthy default inits sit at 1x; checked on every capture of the calibration half, the
    #: zoo and the transformer zoo with a vanishing gradient (medians 0.4x-1x, and 3.6x for GPT-2's 0.02 in a
    #: normalized transformer, which the normalization rule excludes).
    vanishing_small_init_factor: float = 3.0
    #: Recurrent layer without recurrent gradient: at least this fraction of its weight-gradient entries
    #: exactly 0 (fraction; hidden-to-hidden weights are ~1/2-3/4 of a GRU/LSTM) on every one of the last
    #: recurrent_min_points measured steps (count; exact zeros need no long confirmation). Calibrated on the
    #: bug zoo + healthy suite together: healthy recurrent layers have no exactly-zero gradient entries.
    recurrent_zero_grad_frac: float = 0.4
    recurrent_min_points: int = 3
    #: Below this recent median loss the model has fit its data: small gradients/updates are expected, not a
    #: fault (loss units). Own choice.
    converged_loss: float = 1e-3
    #: dead_units: a ReLU-family layer with at least this fraction of units <= 0 for every sample (fraction).
    #: DeepDiagnosis: >= 70% of ReLU outputs <= 0; AUTOTRAINER: 70% zero gradients; SageMaker: > 50% dead.
    dead_frac: float = 0.7
    #: saturated_activation: a hidden sigmoid/tanh layer with at least this fraction of outputs in the
    #: saturated band of summary.SATURATION_BANDS (fraction). DeepDiagnosis and SageMaker: 50%.
    saturated_frac: float = 0.5
    #: constant_output: std <= constant_std_tol * max(1, |mean|) over the whole output tensor (ratio). Own
    #: choice: float32 round-off of a constant tensor, far below any healthy spread.
    constant_std_tol: float = 1e-6
    #: unchanged_weights: a trainable layer whose ||update|| <= unchanged_update_rtol * ||w|| (ratio) for
    #: unchanged_steps consecutive measured steps. SageMaker WeightUpdateRatio lower bound 1e-8; DeepLocalize
    #: and DeepDiagnosis: last 5 values identical (steps).
    unchanged_update_rtol: float = 1e-8
    unchanged_steps: int = 5
    #: unchanged_weights with sparse full statistics (stats_every > 1): measured points needed. SageMaker
    #: UnchangedTensor: 3 saved steps; at stats_every=20 that is 60 steps of no change.
    unchanged_steps_sparse: int = 3
    #: poor_initialization: initial weight std outside [low / f, high * f] of the usual schemes for the fan-in
    #: (low: Glorot or PyTorch's default, high: He) with f this factor (ratio). Own calibration;
    #: TheDeepChecker compares with He/Glorot scale.
    init_scale_factor: float = 10.0
    #: poor_initialization: when some layer starts above He * init_scale_factor, the too-large init is
    #: model-wide: earlier kernel layers above He * init_span_factor are part of the same fault (ratio).
    #: Healthy default inits never exceed He (PyTorch's default and Glorot are at or below it); the step-1
    #: forward estimate reaches ~1.7x He on healthy layers (it counts the bias). Calibrated on the bug zoo +
    #: healthy suite together.
    init_span_factor: float = 2.0
    #: poor_initialization: a hidden kernel with std <= init_constant_rtol * |mean| (or all zero) is constant:
    #: its units stay symmetric (ratio). Own choice.
    init_constant_rtol: float = 1e-3
    #: poor_initialization: when the first update's norm exceeds this fraction of the step-1 weights' norm
    #: (a huge learning rate), the step-1 weights are mostly update and say nothing about the initial
    #: weights: only an exact all-zero start (weights == update) or forward evidence is judged (ratio).
    #: Calibrated on the bug zoo + healthy suite together (healthy first updates stay below ~0.05).
    init_update_dominates: float = 0.5
    #: poor_initialization: at step 1, at least this fraction of a ReLU layer's units dead (fraction). Own
    #: choice.
    init_dead_frac: float = 0.9
    #: poor_initialization: second moment of consecutive ReLU outputs changes by more than this factor per
    #: layer on average at step 1 (ratio). SageMaker PoorWeightInitialization: variance ratio > 10 across
    #: layers; per layer here so PyTorch's default init (~6x shrink per layer) does not fire. Own calibration.
    init_var_ratio: float = 20.0

    # ---------------------------------------------------------------- detector thresholds (see detectors/)
    # ---- training-curve and pre-flight detectors
    #: Most recent steps a trend detector looks at (steps). Issue 4: trend verdicts within 200 steps.
    curve_window: int = 200
    #: A loss changing sign at this share of its consecutive steps (at least curve_min_steps // 2) is a policy
    #: gradient's surrogate (a likelihood crosses 0 a few times): no curve detectors. Own choice.
    surrogate_sign_changes: float = 0.1
    #: A loss below 0 at this share of its window's steps or more maximizes an objective (PPO's surrogate, an
    #: actor's -Q; a fit never goes below 0): the script's other models get no curve detectors. Own choice.
    objective_negative_share: float = 0.5
    #: loss_spike: a step's loss is a spike when it is more than spike_z standard deviations above the mean
    #: of the previous spike_window finite losses (OLMo-core's skip-step rule: mean + 6 sigma over 128
    #: steps) and at least spike_max_ratio times the largest of them (Megatron's rerun check uses 10x the
    #: largest loss seen). Own choice of 2x: on the healthy and fixed runs of both benchmarks, mini-batch
    #: noise near a converged loss passes mean + 6 sigma in 12 runs of 114, 2x the window's largest loss
    #: in 3, 10x in none (``python -m benchmarks.spike_rules``; docs/benchmark.md, "Loss spikes").
    spike_z: float = 6.0
    spike_window: int = 128
    spike_max_ratio: float = 2.0
    #: ... judged only with at least this many previous finite losses (steps; own choice: the fast fall of
    #: the first steps is not a baseline; ``blow_up`` judges those steps against the first loss).
    spike_min_history: int = 32
    #: ... the loss "came back" when the median of the next spike_recover_steps losses is below the spike
    #: threshold (steps; own choice); more than spike_repeated spikes in the window are "repeated".
    spike_recover_steps: int = 10
    spike_repeated: int = 3
    #: ... and a spike is reported only when it takes back at least this fraction of what the loss gained
    #: from its initial level to the median before the spike (fraction; own choice): near a converged loss
    #: (0.0004 after 0.69), mini-batch noise of 0.005 passes both rules above and means nothing.
    spike_min_undo_frac: float = 0.1
    #: ... the layer whose gradient norm grew most at the spike step, over its median before, leads it when
    #: that growth is at least this factor (ratio; own choice, the same 2x as the loss).
    spike_layer_growth: float = 2.0
    #: lost_updates: a bf16/fp16 layer loses its updates when at least this fraction of its update elements
    #: are zero beyond its gradient's zeros (fraction; the issue's "most of a layer"), at the last
    #: lost_min_points statistics steps (points; own choice, as recurrent_min_points).
    lost_frac: float = 0.5
    lost_min_points: int = 3
    #: overflow_risk: a float16 layer's largest output within this factor of 65504 (and growing) is a
    #: warning (ratio; own choice: 16x leaves four doublings before the overflow).
    overflow_headroom: float = 16.0
    #: attention_collapse: a head whose attention entropy, divided by log(number of keys it may attend), is
    #: at most this has collapsed onto one key (0..1; own choice: 0.05 is about 97% of the weight on one key
    #: of 64). The layer is reported when at least ``attention_collapse_heads`` of its heads have (share)
    #: at ``attention_collapse_points`` statistics steps in a row. Entropy collapse: Zhai et al., ICML 2023.
    attention_collapse_entropy: float = 0.05
    attention_collapse_heads: float = 0.5
    attention_collapse_points: int = 3
    #: target_leak: a model that sees its targets (no causal mask, unshifted labels) is a fault once the
    #: median of its last leak_min_points losses is below leak_loss_frac x the label prior entropy: far below
    #: what a model that cannot see its targets reaches early (own choice; a healthy character model is at 0.7
    #: after 300 steps here, one seeing its targets at 0.05; 0 turns it off), or, without its causal mask,
    #: once a head puts leak_next_key_weight of its attention on the key it is scored on (own choice: half).
    leak_loss_frac: float = 0.25
    leak_min_points: int = 10
    leak_next_key_weight: float = 0.5
    #: With batches smaller than this, a curve point averages consecutive steps until it covers this many
    #: samples (samples): an accuracy over 1 sample is 0 or 1, a loss over 2 is mostly noise. Own choice.
    curve_min_batch: int = 32
    #: Fewest finite losses before loss_not_decreasing / oscillating_loss may judge (steps). Calibrated on the
    #: bug zoo + healthy suite together: with check_every=20 the first verdict comes at step 80, once the
    #: sparse full statistics (steps 1, 21, 41, 61 at stats_every=20) can confirm a specific per-layer symptom
    #: (it then outranks the generic "does not learn"); 50 named the learning rate for a missing zero_grad.
    curve_min_steps: int = 70
    #: A loss identical (to 1e-7 relative) over this many consecutive steps does not learn (steps).
    #: DeepLocalize: 5 batches; 10 leaves no doubt even for tiny data sets.
    loss_constant_steps: int = 10
    #: "No meaningful decrease": the decrease of the median of the last third of the window below the first
    #: third, plus loss_noise_z standard errors, stays under this fraction of the first-third level
    #: (fraction). An equivalence test, so noise alone never proves "flat". Replaces SageMaker's 0.1% per 10
    #: steps.
    loss_min_rel_decrease: float = 0.03
    #: Standard errors of the median difference used by the curve tests (z-score). Own choice (~97.5%
    #: one-sided).
    loss_noise_z: float = 2.0
    #: A loss whose level fell below this fraction of its initial level has learned; a flat loss after that is
    #: a converged plateau, not a fault (fraction). Own calibration.
    loss_learned_ratio: float = 0.9
    #: A level within this fraction of chance (-log(1/K), prior entropy, or var(y) for MSE) is "at chance".
    chance_rel_tol: float = 0.1
    #: No trend verdict while the learning rate grew by more than this factor over the window (warm-up).
    warmup_lr_factor: float = 2.0
    #: oscillating_loss: median |log(loss_t / loss_t-1)| at least this (e-folds): steps swing by >= 1.5x.
    #: AUTOTRAINER used accuracy swings >= 0.03 in >= 20% of epochs; a per-step loss needs a scale-free rule.
    osc_log_swing: float = 0.4
    #: oscillating_loss: at least this fraction of the window's steps lie above osc_spike_ratio x the initial
    #: loss level (fraction). AUTOTRAINER: 20% of epochs.
    osc_spike_frac: float = 0.2
    #: oscillating_loss: a spike is a loss above this multiple of the initial level (ratio). Own choice.
    osc_spike_ratio: float = 1.5
    #: short_training: a run that ENDS (the end-of-run check, not a periodic one) after fewer than
    #: min_steps_for_verdict steps, with at least short_min_steps losses, whose last loss is still within
    #: chance_rel_tol of chance and decreased by less than short_max_rel_decrease of the initial loss, stopped
    #: long before it could learn (steps, fraction). Calibrated on the bug zoo + healthy suite together.
    short_min_steps: int = 3
    short_max_rel_decrease: float = 0.1
    #: slow_convergence: fewest finite losses before judging (steps). Issue 4: within 200 steps.
    slow_min_steps: int = 100
    #: unconverged_at_end (a warning, judged when a run that learned ends): the share of all the loss gained
    #: since its start that came in the run's last quarter, at or above which the run had not converged
    #: (fraction). For a loss decaying as exp(-t / tau) the share is 0.20 when tau equals the run's length,
    #: 0.29 for a linear fall, near 0 once converged. Own choice, from that model, not from any program.
    unconverged_late_share: float = 0.2
    #: unconverged_at_end: fewest finite losses of the whole run (history and window) to judge it (points):
    #: five per quarter at least, for a median per quarter. Own choice.
    unconverged_min_points: int = 20
    #: A stall (loss flat at chance or not learning, accuracy flat, slow convergence) judged before the run
    #: ended and before this step is provisional (``severity.py``): a warning unless another finding makes
    #: the run faulty or explains it. Healthy runs often sit on a plateau before they learn: in the real-world
    #: calibration half a ResNet at lr 2e-4 fell 1.6% in its first 100 steps and a BERT sat at chance for
    #: 80 steps; both then learned. Own choice (steps).
    provisional_steps: int = 500
    #: loss_not_decreasing: after curve_min_steps, a loss (median of the last third of the window) above
    #: this multiple of the chance level (what a constant prediction scores) does worse than ignoring the
    #: input. Own choice: a healthy run passes below its chance level within its first few dozen steps.
    worse_than_chance_factor: float = 3.0
    #: narrow_bottleneck: with a hidden layer of a single unit before an output of >= 3 units, a loss still
    #: above this fraction of its initial level after slow_min_steps is slow convergence caused by that
    #: layer (fraction). Calibrated on the bug zoo + healthy suite together.
    bottleneck_loss_frac: float = 0.5
    #: slow_convergence: the loss decreases (significantly) but by less than this fraction of its initial
    #: level after slow_min_steps (fraction). AUTOTRAINER: best accuracy gain per step < 0.01 (on epochs).
    slow_max_rel_decrease: float = 0.05
    #: accuracy_not_increasing: fewest steps with an accuracy (steps). Same as curve_min_steps.
    acc_min_steps: int = 70
    #: accuracy_not_increasing: gain of the last-third median over the first-third median, plus its noise,
    #: stays below this (accuracy units). DeepDiagnosis: 20 identical accuracies (too strict for mini-batch
    #: values).
    acc_min_gain: float = 0.05
    #: An accuracy at most this above chance (max of 1/K and the majority-class share) is "at chance" (units).
    acc_chance_margin: float = 0.03
    #: overfitting: (val_loss - train_loss) / train_loss above this (ratio). SageMaker Overfit rule: 0.1.
    overfit_gap_ratio: float = 0.1
    #: overfitting: the last val_loss is at least this fraction above its best so far (fraction). Own choice.
    overfit_val_rise: float = 0.1
    #: overfitting: fewest validation evaluations (count), and consecutive rises of val_loss (count,
    #: patience).
    overfit_min_evals: int = 3
    #: validation_mismatch: the training loss fell by at least this fraction over the evaluations while the
    #: validation loss never got below its first value and sits at or above the chance level (fraction):
    #: the validation data are not what the model was trained on. Own choice.
    mismatch_train_fall: float = 0.5
    overfit_patience: int = 2
    #: unnormalized_input: max |x| of the first batch above this (input units). DESIGN: "far outside [-10,
    #: 10]"; UMLAUT/DeepDiagnosis use [-1, 1], which flags healthy standardized data.
    input_abs_max: float = 50.0
    #: unnormalized_input: ... or above this while feature scales differ input_scale_ratio_soft-fold (units).
    input_abs_soft: float = 10.0
    #: unnormalized_input: per-feature std ratio (max/min) above this alone (ratio, 4 orders of magnitude;
    #: sparse pixel features of normalized flattened images reach ~1e3).
    input_scale_ratio: float = 1e4
    #: unnormalized_input: per-feature std ratio that counts with |x| > input_abs_soft, or alone among
    #: the continuous features (sparse pixels excepted: ``summary.feature_scale_ratios``) (ratio).
    input_scale_ratio_soft: float = 100.0
    #: poor_initialization: first-step loss above this multiple of -log(1/K) ... (ratio). TheDeepChecker: the
    #: initial loss should be ~ -log(1/K).
    init_loss_ratio: float = 3.0
    #: ... and above -log(1/K) by at least this much (nats), so tiny K (log 2) does not trip it.
    init_loss_margin: float = 1.0
    #: diagnose: regression targets with |y| above this (first batch) vote "data: scale the targets" for
    #: numerical and exploding symptoms (target units). Same scale rule as input_abs_max.
    target_abs_max: float = 50.0
    #: output_out_of_range (pre-flight): regression targets above target_abs_max whose magnitude is at least
    #: this many times the first step's output RMS (ratio): the outputs must grow by orders of magnitude.
    #: Calibrated on the bug zoo + healthy suite together (healthy regressions: targets ~ outputs).
    target_output_gap: float = 100.0
    #: diagnose: a learning rate more than this factor outside the optimizer's usual range
    #: (``fixes.USUAL_LR``) explains a failure it can cause, with weight ``lr_far_vote`` (ratio, 0..1): a
    #: stated fact, above the curve's own learning-rate votes (0.5-0.7). Own choice: 10x past the edge of
    #: what the tuning guides use.
    lr_far_factor: float = 10.0
    lr_far_vote: float = 0.8
    #: diagnose: update/weight norm ratio above which the learning rate is too high (ratio). DeepDiagnosis:
    #: 0.1.
    lr_update_ratio_high: float = 0.1
    #: diagnose: ... below which it is too low (ratio, non-zero updates only). DeepDiagnosis: 1e-5.
    lr_update_ratio_low: float = 1e-5
    #: slow_convergence: a median update/weight ratio at or above this is a healthy pace (ratio), so a loss
    #: that barely moves is not the learning rate being too low: its "raise the lr" vote drops to
    #: ``lr_low_contradicted_vote``. CS231n (Karpathy): the ratio "should be somewhere around 1e-3; lower:
    #: the learning rate might be too low".
    lr_update_ratio_healthy: float = 1e-3
    lr_low_contradicted_vote: float = 0.3
    #: diagnose: weight multiplier for causes voted by findings confirmed later than the earliest one
    #: (factor).
    later_finding_discount: float = 0.8
    #: diagnose: weight multiplier for the votes of generic curve symptoms (loss/accuracy flat, oscillating,
    #: slow) when a specific finding (pre-flight, numerical, per-layer) explains them (factor). Own choice.
    generic_finding_discount: float = 0.5
    #: diagnose: weight of the votes cast when the only evidence is a curve that does not learn: a learning
    #: rate outside the optimizer's usual range, or (at chance with healthy update/weight ratios) labels that
    #: do not match their inputs (0..1). Calibrated on the bug zoo +
    #: healthy suite together: above the generic curve votes for the learning rate (0.5), below pre-flight
    #: and numerical evidence.
    stuck_vote: float = 0.6
    #: diagnose: weight of the architecture vote for stacked layers with no non-linearity between them when
    #: the run does not learn (0..1): a structural fact outranks the curve's own learning-rate votes
    #: (0.5-0.7). Calibrated on the bug zoo + healthy suite together.
    structure_vote: float = 0.75
    #: diagnose: a dropout layer with at least this rate explains a failure it can cause (a stall, dead or
    #: saturated units after it), with weight ``structure_vote`` (fraction of units dropped). Srivastava et
    #: al. (2014, the dropout paper) keep 50-80% of hidden units (rates 0.2-0.5); 0.8 and above is most
    #: often a keep probability passed as the rate (TensorFlow 1's ``keep_prob`` to Keras' ``rate``). Own
    #: choice.
    dropout_rate_high: float = 0.8
    #: diagnose / numerical: weight of the optimizer vote when a hyper-parameter is invalid or far outside any
    #: usual value (momentum or a beta >= 1, eps <= 0 or >= 0.1, weight decay >= 0.05 coupled / 0.5 AdamW;
    #: fixes.optimizer_setting_problem) and the run stalls or its update turns NaN (0..1). Calibrated on the
    #: bug zoo + healthy suite together: a stated fact outranks the update-ratio learning-rate vote (0.7).
    optimizer_setting_vote: float = 0.8

    # ---------------------------------------------------------------- valid values (see ``validate``)
    #: Counts and cadences that must be at least 1 (steps, points, evaluations).
    AT_LEAST_ONE: ClassVar[frozenset[str]] = frozenset({
        "stats_every", "stats_dense_steps", "stats_every_max", "check_every", "check_every_max", "window",
        "rank_agree_every",
        "history",
        "tensor_min_points", "tensor_min_points_sparse",
        "accum_min_steps", "accum_min_points", "recurrent_min_points", "unchanged_steps",
        "unchanged_steps_sparse", "curve_window", "curve_min_steps", "loss_constant_steps", "short_min_steps",
        "slow_min_steps", "unconverged_min_points", "provisional_steps", "acc_min_steps", "overfit_min_evals",
        "spike_window", "spike_min_history", "spike_recover_steps", "spike_repeated", "lost_min_points",
        "attention_collapse_points", "leak_min_points", "vanishing_chain_layers",
    })
    #: Values in [0, 1]: fractions, accuracy units, cause weights and discount factors (a name ending in
    #: "_frac" is one without being listed). Other numbers: >= 0, never NaN (+inf turns a threshold off).
    UNIT_INTERVAL: ClassVar[frozenset[str]] = frozenset({
        "loss_min_rel_decrease", "loss_learned_ratio", "chance_rel_tol", "short_max_rel_decrease",
        "slow_max_rel_decrease", "unconverged_late_share", "mismatch_train_fall", "acc_min_gain",
        "acc_chance_margin", "later_finding_discount", "generic_finding_discount", "stuck_vote",
        "structure_vote", "optimizer_setting_vote", "lr_far_vote", "attention_collapse_entropy",
        "attention_collapse_heads", "surrogate_sign_changes", "objective_negative_share",
    })

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """ValueError naming the first field of the wrong type or out of its range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            if kind == "bool" and not isinstance(value, bool):
                raise ValueError(f"Config.{f.name} must be true or false, got {value!r}")
            if kind not in ("int", "float"):
                continue
            wanted = numbers.Integral if kind == "int" else numbers.Real
            if isinstance(value, bool) or not isinstance(value, wanted):
                raise ValueError(f"Config.{f.name} must be {'an integer' if kind == 'int' else 'a number'}, "
                                 f"got {value!r}")
            if math.isnan(value):
                raise ValueError(f"Config.{f.name} must be a number, not NaN")
            low, high = (1, math.inf) if f.name in self.AT_LEAST_ONE else (0, math.inf)
            if f.name in self.UNIT_INTERVAL or f.name.endswith("_frac"):
                low, high = 0, 1
            if not low <= value <= high:
                bound = f"at least {low}" if high == math.inf else f"between {low} and {high}"
                raise ValueError(f"Config.{f.name} must be {bound}, got {value!r}")

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (unknown names raise TypeError, bad values ValueError)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Build from a dict, ignoring names this version does not know (old stored runs)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})
