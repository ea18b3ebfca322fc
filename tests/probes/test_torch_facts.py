"""Facts read from the first batch: how a language model's targets line up with its input token ids."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from deeplocalize.probes.torch_facts import target_alignment  # noqa: E402

IDS = torch.randint(0, 50, (8, 33), generator=torch.Generator().manual_seed(0))


def test_next_token_targets_batch_first_sequence_first_and_shifted_inside_the_model() -> None:
    x, y = IDS[:, :-1], IDS[:, 1:]
    assert target_alignment(x, y.reshape(-1), -100) == "next"  # nanoGPT: x and y windows one apart
    assert target_alignment(x.T.contiguous(), y.T.reshape(-1), -100) == "next"  # (length, batch) batches
    assert target_alignment(IDS, IDS[:, 1:].reshape(-1), -100) == "next"  # Hugging Face: labels[..., 1:]


def test_unshifted_targets_are_the_same_tokens_and_padding_is_not_scored() -> None:
    labels = IDS.clone()
    labels[:, 20:] = -100
    assert target_alignment(IDS, labels.reshape(-1), -100) == "same"


def test_unrelated_targets_a_masked_lm_and_a_classifier_are_neither() -> None:
    assert target_alignment(IDS, torch.randint(0, 50, IDS.shape).reshape(-1), -100) is None
    corrupted = IDS.clone()
    corrupted[:, ::6] = 0  # 17% of the inputs masked, every position scored
    assert target_alignment(corrupted, IDS.reshape(-1), -100) is None
    assert target_alignment(IDS, torch.randint(0, 2, (8,)), -100) is None
    assert target_alignment(IDS, torch.randn(IDS.shape).reshape(-1), -100) is None
