"""Attention entropy: the reference computation against an explicit softmax, masks and grouped-query heads;
the wrapper measures on statistics steps only and never changes the attention's output; a transformer
whose attention collapses gets a warning at that layer, a healthy one none."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.probes import torch_attention as attention  # noqa: E402
from deeplocalize.vocabulary import Channel, Severity, Symptom  # noqa: E402


def _explicit_from_scores(scores: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(scores, -1)
    n = (scores > attention.HIDDEN).sum(-1).float()
    ent = -torch.special.xlogy(p, p).sum(-1) / n.log()
    return torch.where(n >= 2, ent, torch.nan).nanmean((0, 2))


def _explicit(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    return _explicit_from_scores((q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
        ~allowed, float("-inf")))


def test_entropy_equals_an_explicit_softmax_with_and_without_a_causal_mask() -> None:
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 9, 8), torch.randn(2, 3, 9, 8)
    full = torch.ones(9, 9, dtype=torch.bool)
    assert torch.allclose(attention.head_entropy(q, k), _explicit(q, k, full), atol=1e-5)
    causal = full.tril()
    assert torch.allclose(attention.head_entropy(q, k, is_causal=True), _explicit(q, k, causal), atol=1e-5)
    assert torch.allclose(attention.head_entropy(q, k, attn_mask=causal), _explicit(q, k, causal), atol=1e-5)
    additive = torch.zeros(9, 9).masked_fill(~causal, float("-inf"))
    masked = attention.head_entropy(q, k, attn_mask=additive)
    assert torch.allclose(masked, _explicit(q, k, causal), atol=1e-5)


def test_uniform_and_one_hot_attention_are_one_and_zero_and_grouped_heads_are_repeated() -> None:
    k = torch.randn(1, 2, 6, 4)
    assert torch.allclose(attention.head_entropy(torch.zeros(1, 4, 6, 4), k), torch.ones(4))
    queries, keys = torch.zeros(1, 1, 5, 4), torch.zeros(1, 1, 6, 4)
    queries[..., 0], keys[..., 0, 0] = 100.0, 100.0  # every query matches key 0 only
    sharp = attention.head_entropy(queries, keys)
    assert sharp is not None and float(sharp.max()) < 1e-3
    assert attention.head_entropy(torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 1, 4)) is None  # one key


def test_the_wrapper_leaves_the_output_unchanged_and_is_removed_when_nobody_listens() -> None:
    original = F.scaled_dot_product_attention
    got: list[attention.AttentionCall] = []
    q, k, v = torch.randn(2, 2, 5, 4), torch.randn(2, 2, 5, 4), torch.randn(2, 2, 5, 4)
    attention.listen(got.append)
    try:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    finally:
        attention.unlisten(got.append)
    assert F.scaled_dot_product_attention is original
    assert torch.equal(out, original(q, k, v, is_causal=True)) and len(got) == 1
    assert got[0].entropy.shape == (2,) and got[0].sees_later_keys is False


class _LM(nn.Module):
    def __init__(self, vocab: int = 16, width: int = 32, length: int = 32) -> None:
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, width), nn.Parameter(torch.zeros(length, width))
        block = nn.TransformerEncoderLayer(width, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(block, 2, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.head(self.enc(self.emb(x) + self.pos[: x.shape[1]], mask=mask, is_causal=True))


def _train(qk_scale: float, steps: int = 160) -> dl.Diagnosis:
    torch.manual_seed(0)
    model = _LM()
    with torch.no_grad():
        for block in model.enc.layers:
            block.self_attn.in_proj_weight.mul_(qk_scale)
    data = torch.randint(0, 16, (256, 33), generator=torch.Generator().manual_seed(0))
    data[:, 1::2] = (data[:, 0::2][:, :16] + 1) % 16  # every other token follows from the one before
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with dl.watch(model, opt, store=False, on_fault="warn") as run:
        for step in range(steps):
            batch = data[(step * 32) % 256:][:32]
            loss = F.cross_entropy(model(batch[:, :-1]).reshape(-1, 16), batch[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert run.monitor.trace.has(10, Channel.ATTENTION)  # measured under the attention layer itself
    return run.diagnosis


def test_a_transformer_whose_attention_collapses_gets_a_warning_at_that_layer_a_healthy_one_none() -> None:
    healthy = _train(1.0)
    assert not [f for f in healthy.findings if f.symptom == Symptom.ATTENTION_COLLAPSE]
    collapsed = [f for f in _train(20.0).findings if f.symptom == Symptom.ATTENTION_COLLAPSE]
    assert len(collapsed) == 1 and collapsed[0].severity == Severity.WARNING
    assert collapsed[0].layer is not None and collapsed[0].layer.name.endswith(".self_attn")


def test_attention_weights_a_layer_returns_are_measured_under_that_layer() -> None:
    """``nn.MultiheadAttention`` called with ``need_weights=True`` computes its weights without
    ``scaled_dot_product_attention``: they are read from its output."""

    class Returns(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn, self.head = nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.attn(x, x, x, need_weights=True, average_attn_weights=False)
            return self.head(out.mean(1))

    torch.manual_seed(0)
    model = Returns()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with dl.watch(model, opt, store=False, config=dl.Config(stats_every=1)) as run:
        for _ in range(3):
            loss = F.cross_entropy(model(torch.randn(4, 6, 8)), torch.randint(0, 3, (4,)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    entropy = run.monitor.trace.matrix(0, Channel.ATTENTION)  # the attention layer comes first
    assert (entropy[:, 0] == 2).all() and ((entropy[:, 4] > 0.5) & (entropy[:, 4] <= 1)).all()


def test_a_self_attention_call_says_whether_a_query_may_attend_a_later_key() -> None:
    q = k = torch.randn(1, 2, 6, 4)
    assert attention.measure(q, k).sees_later_keys is True
    assert attention.measure(q, k, is_causal=True).sees_later_keys is False
    lowest = torch.zeros(6, 6).masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), torch.finfo().min)
    assert attention.measure(q, k, attn_mask=lowest).sees_later_keys is False  # Hugging Face's causal mask
    assert attention.measure(q, torch.randn(1, 2, 9, 4)).sees_later_keys is None  # cross-attention
    causal_weights = torch.softmax(torch.randn(2, 6, 6).masked_fill(lowest.bool(), float("-inf")), -1)
    assert attention.from_weights(causal_weights).sees_later_keys is False
    assert attention.from_weights(torch.softmax(torch.randn(2, 6, 6), -1)).sees_later_keys is True


def test_the_weight_a_head_puts_on_the_key_after_each_query_is_measured_from_every_source() -> None:
    q = torch.randn(1, 2, 6, 4)
    k = torch.zeros(1, 2, 6, 4)
    k[0, 1, 1:] = q[0, 1, :-1] * 50  # head 1: each query's next key is its near-copy; head 0: uniform
    weight = attention.measure(q, k, scale=1.0).next_key_weight
    assert weight is not None and weight > 0.8  # the largest over heads
    assert attention.measure(q, k, is_causal=True).next_key_weight == 0.0  # later keys hidden
    assert attention.measure(q, torch.randn(1, 2, 9, 4)).next_key_weight is None  # cross-attention
    uniform = torch.full((2, 6, 6), 1 / 6)
    assert abs(attention.from_weights(uniform).next_key_weight - 1 / 6) < 1e-6
    scores = torch.randn(2, 6, 6)
    scores[:, torch.arange(5), torch.arange(1, 6)] = 30.0  # a hand-written attention reading the next token
    call = attention.from_softmax(scores, torch.softmax(scores, -1), -1)
    assert call is not None and call.next_key_weight > 0.7  # (the last query has no next key: left out)


class _Unmasked(_LM):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # the causal mask forgotten
        return self.head(self.enc(self.emb(x) + self.pos[: x.shape[1]]))


def test_a_language_model_without_its_causal_mask_is_a_target_leak_at_its_attention() -> None:
    def leaks(model_type: type[_LM]) -> list[dl.Finding]:
        torch.manual_seed(0)
        model = model_type()
        with torch.no_grad():
            model.pos.normal_()  # positions told apart from the start: the leak is found in few steps
        data = torch.randint(0, 16, (256, 33), generator=torch.Generator().manual_seed(0))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        with dl.watch(model, opt, store=False, on_fault="warn") as run:
            for step in range(120):
                batch = data[(step * 32) % 256:][:32]
                loss = F.cross_entropy(model(batch[:, :-1]).reshape(-1, 16), batch[:, 1:].reshape(-1))
                opt.zero_grad()
                loss.backward()
                opt.step()
        return [f for f in run.diagnosis.findings if f.symptom == Symptom.TARGET_LEAK]

    assert leaks(_LM) == []  # random tokens and a causal mask: nothing to see
    (finding,) = leaks(_Unmasked)
    assert finding.severity == Severity.FAULT and finding.layer.name == "enc.layers.0.self_attn"


def test_a_softmax_over_square_scores_is_read_as_attention_and_the_wrappers_are_removed() -> None:
    """Attention written by hand: a softmax over the last dimension of (batch, [heads,] L, L) scores, its
    hidden keys where a ``masked_fill`` put -inf; other softmaxes are not attention."""
    originals = (torch.softmax, F.softmax)
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 7, 7)
    masked = scores.masked_fill(torch.ones(7, 7, dtype=torch.bool).triu(1), float("-inf"))
    got: list[attention.AttentionCall] = []
    attention.listen(got.append)
    try:
        outs = [torch.softmax(masked, -1), F.softmax(scores, dim=-1), scores[:, 0].softmax(-1),
                torch.softmax(torch.randn(4, 10), -1), torch.randn(2, 7, 5).softmax(-1),
                scores.softmax(dim=1)]
    finally:
        attention.unlisten(got.append)
    assert (torch.softmax, F.softmax) == originals and "softmax" not in vars(torch.Tensor)
    assert torch.equal(outs[0], originals[0](masked, -1))  # the output is the softmax's own
    assert [(c.sees_later_keys, c.from_softmax) for c in got] == [(False, True), (True, True), (True, True)]
    assert torch.allclose(got[0].entropy, _explicit_from_scores(masked), atol=1e-5)
    assert torch.allclose(got[1].entropy, _explicit_from_scores(scores), atol=1e-5)
    assert got[2].entropy.shape == (1,)  # (batch, L, L): one head


class _HandAttentionLM(nn.Module):
    """One self-attention written by hand, as minGPT and most tutorials do, causal or not."""

    def __init__(self, causal: bool, vocab: int = 16, width: int = 32, length: int = 16) -> None:
        super().__init__()
        self.causal = causal
        self.emb, self.pos = nn.Embedding(vocab, width), nn.Embedding(length, width)
        self.qkv, self.head = nn.Linear(width, 3 * width), nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x) + self.pos(torch.arange(x.shape[1]))
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if self.causal:
            later = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
            scores = scores.masked_fill(later, float("-inf"))
        return self.head(h + F.softmax(scores, dim=-1) @ v)


def _leak_findings(causal: bool, shift: int) -> list:
    torch.manual_seed(0)
    model = _HandAttentionLM(causal)
    data = torch.randint(0, 16, (512, 17), generator=torch.Generator().manual_seed(0))  # random tokens
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with dl.watch(model, opt, store=False, on_fault="warn") as run:
        for step in range(160):
            batch = data[(step * 32) % 512:][:32]
            logits = model(batch[:, :16])
            loss = F.cross_entropy(logits.reshape(-1, 16), batch[:, shift:16 + shift].reshape(-1))
            # a square softmax outside the forward (a similarity matrix in a loss term) is no attention
            loss = loss + 0.0 * torch.softmax(logits[:, :, :16], -1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [f for f in run.diagnosis.findings if f.symptom == Symptom.TARGET_LEAK]


def test_a_hand_written_attention_without_causal_mask_or_with_unshifted_labels_is_a_target_leak() -> None:
    no_mask = _leak_findings(causal=False, shift=1)
    assert len(no_mask) == 1 and no_mask[0].severity == Severity.FAULT
    assert no_mask[0].layer is not None and no_mask[0].layer.name == "qkv"  # made the queries and keys
    unshifted = _leak_findings(causal=True, shift=0)
    assert len(unshifted) == 1 and unshifted[0].severity == Severity.FAULT
    assert _leak_findings(causal=True, shift=1) == []  # the next token of random tokens: no leak, none


def test_reading_a_hand_written_attention_leaves_training_bit_identical() -> None:
    """Every step a statistics step (the softmax wrapped), with dropout on the weights: the same weights."""

    def train(watched: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = _HandAttentionLM(causal=True)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        data = torch.randint(0, 16, (64, 17), generator=torch.Generator().manual_seed(1))
        ctx = dl.watch(model, opt, store=False, config=dl.Config(stats_every=1)) if watched else None
        if ctx is not None:
            ctx.__enter__()
        try:
            for step in range(12):
                batch = data[(step * 16) % 64:][:16]
                logits = F.dropout(model(batch[:, :16]), 0.1)
                loss = F.cross_entropy(logits.reshape(-1, 16), batch[:, 1:].reshape(-1))
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)
        return [p.detach().clone() for p in model.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(train(False), train(True), strict=True))
