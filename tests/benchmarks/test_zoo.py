"""Fast checks of the bug zoo: every case imports, its ground truth uses the vocabulary, coverage holds,
and the premise of a few quick cases holds on one seed.
All cases over 3 seeds: `python -m benchmarks.zoo.premise`."""

from __future__ import annotations

import os
from collections import Counter
from types import ModuleType

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before any Keras case module imports keras

pytest.importorskip("torch")
pytest.importorskip("keras")
pytest.importorskip("sklearn")

from benchmarks.zoo import premise, registry
from benchmarks.zoo.case import Case

from deeplocalize.vocabulary import Category, Symptom

TASKS = {"binary", "multiclass", "multilabel", "regression"}  # the bug zoo's; the transformer zoo's below
LM_TASK = "language_model"


@pytest.fixture(scope="module")
def modules() -> list[ModuleType]:
    return registry.load_cases()


def test_every_case_module_defines_case_and_run(modules: list[ModuleType]) -> None:
    assert len(modules) == len(registry.case_ids())
    for module in modules:
        assert isinstance(module.CASE, Case), module.__name__
        assert callable(module.run), module.__name__
        assert module.__name__.rsplit(".", 1)[-1] == module.CASE.id  # the module name is the id


def test_ids_are_unique(modules: list[ModuleType]) -> None:
    counts = Counter(m.CASE.id for m in modules)
    assert [i for i, n in counts.items() if n > 1] == []


def test_ground_truth_uses_the_vocabulary(modules: list[ModuleType]) -> None:
    categories = {c.value for c in Category}
    symptoms = {s.value for s in Symptom}
    for module in modules:
        case = module.CASE
        assert case.framework in ("torch", "keras") and case.id.startswith(f"{case.framework}_"), case.id
        assert case.task in TASKS | {LM_TASK}, case.id
        assert set(case.symptoms) <= symptoms, (case.id, set(case.symptoms) - symptoms)
        if case.kind == "bug":
            assert case.categories and set(case.categories) <= categories, case.id
            assert len(set(case.categories)) == len(case.categories), case.id
            assert case.premise in ("nan", "worse", "spike"), case.id
            assert case.expect == "fault" or set(case.symptoms), case.id  # a warning of what symptom?
            assert case.variants == ("buggy", "fixed")
        else:
            assert case.kind == "healthy" and case.categories == () and case.layer is None, case.id


def test_coverage(modules: list[ModuleType]) -> None:
    bugs = [m.CASE for m in modules if m.CASE.kind == "bug" and m.CASE.suite == "zoo"]
    healthy = [m.CASE for m in modules if m.CASE.kind == "healthy" and m.CASE.suite == "zoo"]
    assert len(bugs) >= 40 and len(healthy) >= 12
    for framework in ("torch", "keras"):
        covered = {cat for c in bugs if c.framework == framework for cat in c.categories}
        assert covered == {c.value for c in Category}, framework  # every category in both frameworks
        assert sum(c.framework == framework for c in healthy) >= 4
        assert {c.task for c in bugs if c.framework == framework} == TASKS, framework
    per_category = Counter(cat for c in bugs for cat in c.categories)
    assert all(per_category[c.value] >= 3 for c in Category), per_category
    primary = Counter(c.categories[0] for c in bugs)  # three cases whose main cause is each category
    assert all(primary[c.value] >= 3 for c in Category), primary
    assert {"mlp", "cnn", "rnn"} <= {c.arch for c in bugs}
    assert {"mlp", "cnn", "rnn", "resnet", "transformer", "autoencoder"} <= {c.arch for c in healthy}


def test_the_transformer_zoo_has_healthy_runs_in_every_precision_and_its_bugs() -> None:
    cases = [m.CASE for m in registry.load_cases() if m.CASE.suite == "transformer"]
    assert all(c.task == LM_TASK and c.framework == "torch" and c.id.startswith("torch_lm_") for c in cases)
    healthy = {c.id for c in cases if c.kind == "healthy"}
    assert {f"torch_lm_healthy_{p}" for p in ("fp32", "bf16_autocast", "fp16_grad_scaler")} <= healthy
    assert sum(c.kind == "bug" for c in cases) >= 5
    assert all(c.suite == "zoo" for c in (m.CASE for m in registry.load_cases()) if c.task != LM_TASK)
    assert registry.case_ids("transformer") == sorted(c.id for c in cases)


def test_builders_name_layers_as_the_ground_truth_does() -> None:
    from benchmarks.zoo import common, common_keras

    mlp = common.mlp(64, [64, 1, 64], 10, output=None)
    assert {"fc1", "act1", "fc2", "fc3", "out"} <= set(dict(mlp.named_modules()))
    assert {"conv1", "act1", "pool2", "out"} <= set(dict(common.cnn(10).named_modules()))
    assert {"rnn", "out"} <= set(dict(common.RecurrentClassifier(1, 3).named_modules()))
    assert [layer.name for layer in common_keras.mlp(4, [8, 8], 2).layers] == ["hidden1", "hidden2", "out"]


@pytest.mark.parametrize(
    "case_id",
    ["torch_mlp_momentum_above_one", "torch_mlp_softmax_before_cross_entropy", "keras_mlp_softmax_one_unit"],
)
def test_premise_of_quick_cases(case_id: str) -> None:
    (result,) = premise.check([case_id], seeds=(0,), timeout=60)
    assert result.passed, result.problems
