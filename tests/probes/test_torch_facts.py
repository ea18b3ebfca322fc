"""Facts read from the model and its first batch: layer facts, and how a language model's targets line up
with its input token ids."""

from __future__ import annotations

import numpy as np
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


def test_the_label_prior_is_counted_over_enough_batches_not_the_first_alone() -> None:
    """32 labels of 27 skewed classes (a character model's batch) put the prior's entropy, and with it the
    chance level of the cross-entropy, well below the truth; later batches' counts bring it there."""
    from deeplocalize.model import LossInfo
    from deeplocalize.probes.torch_model_facts import PRIOR_LABELS_PER_CLASS, ModelFacts

    torch.manual_seed(0)
    prior = torch.distributions.Dirichlet(torch.full((27,), 0.7)).sample()
    truth = float(-(prior * prior.log()).sum())
    facts = ModelFacts("model")
    loss = LossInfo(name="cross_entropy")
    estimates = []
    for _ in range(40):
        labels = torch.multinomial(prior, 32, replacement=True)
        facts.saw_loss(loss, torch.randn(32, 27), labels, -100)
        estimates.append(facts.data.y_prior_entropy)
    assert estimates[0] < 0.9 * truth  # the first batch alone
    settled = -(-PRIOR_LABELS_PER_CLASS * 27 // 32)  # batches until enough labels per class were counted
    assert abs(estimates[settled - 1] - truth) < 0.05 * truth
    assert len(set(estimates[settled:])) == 1  # no more counting (nor host reads) after that
    facts_soft = ModelFacts("model")  # soft targets are no class labels: nothing is counted
    soft = torch.softmax(torch.randn(32, 27), 1)
    facts_soft.saw_loss(loss, torch.randn(32, 27), soft, -100)
    assert facts_soft.data.y_prior_entropy is None
    p = soft.double().numpy()  # the lowest binary cross-entropy on them: their mean binary entropy
    floor = float((-(p * np.log(p) + (1 - p) * np.log1p(-p))).mean())
    assert facts_soft.data.y_bce_floor == pytest.approx(floor, rel=1e-5)
    assert facts.data.y_bce_floor is None  # class labels


def test_later_labels_are_read_only_when_host_reads_are_allowed() -> None:
    """Ordinary steps add their labels on the device; a statistics step (``read``) reads them all."""
    from deeplocalize.model import LossInfo
    from deeplocalize.probes.torch_model_facts import ModelFacts

    facts = ModelFacts("model")
    loss = LossInfo(name="cross_entropy")
    facts.saw_loss(loss, torch.randn(4, 10), torch.zeros(4, dtype=torch.long), -100)  # one class seen
    first = facts.data.y_prior_entropy
    for _ in range(5):
        facts.saw_loss(loss, torch.randn(4, 10), torch.arange(4) + 4, -100, read=False)
    assert facts.data.y_prior_entropy == first
    facts.saw_loss(loss, torch.randn(4, 10), torch.full((4,), -100), -100, read=True)  # padding only
    assert facts.data.y_prior_entropy > first + 1.0  # five classes now, the padding counted nowhere


def test_label_counting_stops_at_its_batch_limit_even_before_a_statistics_step_reads_it() -> None:
    """A run whose statistics steps are far apart adds no device work once the limit is reached."""
    from deeplocalize.model import LossInfo
    from deeplocalize.probes.torch_model_facts import PRIOR_MAX_BATCHES, ModelFacts

    facts = ModelFacts("model")
    loss = LossInfo(name="cross_entropy")
    facts.saw_loss(loss, torch.randn(4, 500), torch.zeros(4, dtype=torch.long), -100)  # never full
    counts = facts._label_counts
    for _ in range(3 * PRIOR_MAX_BATCHES):
        facts.saw_loss(loss, torch.randn(4, 500), torch.arange(4) + 1, -100, read=False)
    assert counts is not None and counts.sum().item() == 4 * PRIOR_MAX_BATCHES  # the first batch and 63 more
    facts.saw_loss(loss, torch.randn(4, 500), torch.arange(4) + 1, -100, read=True)
    assert facts._label_counts is None and facts.data.y_prior_entropy is not None


def test_a_linear_head_counts_the_rows_of_its_weight_not_a_stale_out_features() -> None:
    """A head re-tied to a resized embedding (old resize code: the weight is replaced, `out_features` is not
    updated) scores one class more than its attribute says; labels of that class are not "out of range"."""
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    import deeplocalize as dl
    from deeplocalize.probes.torch_facts import layer_info

    torch.manual_seed(0)
    embed, head = nn.Embedding(11, 8), nn.Linear(8, 10, bias=False)
    head.weight = embed.weight  # 11 rows; head.out_features still says 10
    assert layer_info(0, "head", head, (4, 11), -1, [head.weight]).units == 11
    model = nn.Sequential(embed, head)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with dl.watch(model, opt, store=False) as run:
        for _ in range(30):
            x = torch.randint(0, 11, (16,))
            opt.zero_grad()
            F.cross_entropy(model(x), x).backward()  # label 10 is the added class
            opt.step()
    assert run.diagnosis is not None
    assert not [f for f in run.diagnosis.findings if "labels span" in f.message], run.diagnosis.findings


def test_dropout_rates_and_the_initial_kernels_range_are_layer_facts() -> None:
    from torch import nn

    from deeplocalize.probes.torch_facts import initial_weight_facts, layer_info

    drop = nn.Dropout(0.8)
    assert layer_info(1, "drop", drop, (4, 8), -1, []).extra["dropout_rate"] == pytest.approx(0.8)
    assert "dropout_rate" not in layer_info(0, "fc", nn.Linear(8, 8), (4, 8), -1, []).extra
    torch.manual_seed(0)
    emb = nn.Embedding(50, 4)
    facts = initial_weight_facts(emb)
    assert facts["kernel_numel"] == 200
    assert facts["kernel_min"] == pytest.approx(float(emb.weight.min()))
    assert facts["kernel_max"] == pytest.approx(float(emb.weight.max()))


def test_the_first_batch_tells_continuous_features_squeezed_by_one_global_scale() -> None:
    from deeplocalize.model import DataInfo
    from deeplocalize.probes.torch_facts import x_facts

    g = torch.Generator().manual_seed(0)
    tax, rooms = torch.rand(256, generator=g) * 520 + 190, torch.randn(256, generator=g) * 0.7 + 6.3
    raw = torch.stack([tax, rooms], 1)
    squeezed, per_column = DataInfo(), DataInfo()
    x_facts((raw - raw.mean()) / raw.std(), squeezed)
    x_facts((raw - raw.mean(0)) / raw.std(0), per_column)
    assert squeezed.x_continuous_scale_ratio > 100 and per_column.x_continuous_scale_ratio < 1.01
    images = DataInfo()  # channels are the features of an image batch: three, all continuous
    x_facts(torch.rand(4, 3, 8, 8, generator=g), images)
    assert images.x_continuous_scale_ratio < 1.5 and images.x_feature_scale_ratio < 1.5


def test_a_decoder_input_holding_the_targets_is_named_and_a_shifted_one_is_not() -> None:
    from deeplocalize.probes.torch_model_facts import decoder_token_inputs, input_holding_targets

    src, tgt = IDS[:, :20], IDS[:, 5:].contiguous()
    mask = torch.ones_like(src)
    named = decoder_token_inputs(((src, tgt), {"decoder_input_ids": tgt, "decoder_attention_mask": mask}))
    assert [name for name, _ in named] == ["decoder_input_ids"]  # a mask, and positional inputs, are not
    assert input_holding_targets(named, tgt.reshape(-1), -100) == "decoder_input_ids"
    shifted = torch.cat([torch.zeros_like(tgt[:, :1]), tgt[:, :-1]], 1)  # the start token first: no leak
    assert input_holding_targets([("decoder_input_ids", shifted)], tgt.reshape(-1), -100) is None
    zeros = torch.zeros_like(tgt)  # a constant input equal to labels that are mostly one class is no leak
    assert input_holding_targets([("decoder_input_ids", zeros)], zeros.reshape(-1), -100) is None


class _Seq2Seq(torch.nn.Module):
    """A GRU encoder-decoder: ``forward(src, decoder_input_ids)`` returns logits for each decoder position."""

    def __init__(self, vocab: int = 24, width: int = 48) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, width)
        self.enc = torch.nn.GRU(width, width, batch_first=True)
        self.dec = torch.nn.GRU(width, width, batch_first=True)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, src: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        _, h = self.enc(self.emb(src))
        out, _ = self.dec(self.emb(decoder_input_ids), h)
        return self.head(out)


def test_a_decoder_fed_its_unshifted_targets_is_found_and_a_model_that_shifts_inside_is_not() -> None:
    """``decoder_input_ids`` equal to the targets: a leak. The same tokens passed positionally to a model of
    one's own prove nothing (its ``forward`` may shift them), nor do shifted decoder inputs."""
    import torch.nn.functional as F  # noqa: N812

    import deeplocalize as dl
    from deeplocalize.vocabulary import Symptom

    def leak_findings(shift: bool, keyword: bool) -> list:
        torch.manual_seed(0)
        model = _Seq2Seq()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        data = torch.randint(3, 24, (512, 12), generator=torch.Generator().manual_seed(0))
        with dl.watch(model, opt, store=False, on_fault="warn") as run:
            for step in range(150):
                src = data[(step * 32) % 512:][:32]
                tgt = src.flip(1)  # the task: reverse the sequence
                dec_in = torch.cat([torch.ones_like(tgt[:, :1]), tgt[:, :-1]], 1) if shift else tgt
                logits = model(src, decoder_input_ids=dec_in) if keyword else model(src, dec_in)
                loss = F.cross_entropy(logits.reshape(-1, 24), tgt.reshape(-1))
                opt.zero_grad()
                loss.backward()
                opt.step()
        return [f for f in run.diagnosis.findings if f.symptom == Symptom.TARGET_LEAK]

    (finding,) = leak_findings(shift=False, keyword=True)
    assert finding.severity.value == "fault" and finding.evidence["input"] == "decoder_input_ids"
    assert leak_findings(shift=True, keyword=True) == []
    assert leak_findings(shift=False, keyword=False) == []
