"""How spread each attention head's weights are, measured on statistics steps (attention collapse).

While a statistics step's per-layer hooks are attached, ``torch.nn.functional.scaled_dot_product_attention``
is wrapped: ``nn.MultiheadAttention`` (``need_weights=False``, as ``nn.TransformerEncoderLayer`` calls it),
Hugging Face models, nanoGPT and Keras's ``MultiHeadAttention`` on the torch backend all call it. The
wrapper lets the original compute the output, unchanged; beside it, on at most ``MAX_ROWS`` rows of the batch
and ``MAX_QUERIES`` query positions, it recomputes each head's attention distribution from the same query,
key, mask and scale, and its entropy divided by the log of the number of keys the query may attend: 1 is
uniform attention, 0 all the weight on one key (a query with one allowed key says nothing and is left out).
An ``nn.MultiheadAttention`` that returns its weights (``need_weights=True``) is read from its output
instead. Ordinary steps are never wrapped.

Attention written by hand (``q @ k.transpose(-2, -1)``, a ``masked_fill`` with -inf, a softmax: minGPT,
most tutorials, Hugging Face's "eager" attention) calls no such function. So the softmax functions
(``torch.softmax``, ``F.softmax``, ``Tensor.softmax``) are wrapped on statistics steps too: a softmax over
the last dimension of scores whose last two dimensions are equal (as many keys as queries, a batch
dimension before them) is read as a self-attention's weights, from its output and its input's hidden
entries; the layer observer keeps only those called inside the model's own forward (``from_softmax``).

Beside the entropies, each self-attention call (as many queries as keys) says whether a query may attend a
key at a later position: no causal mask (the missing-causal-mask check of ``detectors/target_leak``), and
how much weight its most next-key-minded head puts on the key right after each query (the mean over the
measured queries): a language model without its causal mask that reads the token it is scored on shows it
there. An additive mask hides a key with -inf or with a large negative value (Hugging Face uses the dtype's
lowest value): at or below ``HIDDEN`` the key counts as hidden.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

#: Batch rows and query positions (evenly spaced) the entropy is computed on (own choice: the cost stays
#: below the attention itself; a collapse shows in every row).
MAX_ROWS = 4
MAX_QUERIES = 128
#: An additive mask value at or below this hides its key (BERT's -10000, the dtype's lowest value, -inf).
HIDDEN = -1e4


@dataclass(frozen=True)
class AttentionCall:
    """What one attention call showed: per-head normalized entropies (1-d), and whether a query may attend a
    later key (None: not a self-attention call, or no mask could be read)."""

    entropy: torch.Tensor
    sees_later_keys: bool | None = None
    #: read from a softmax call (attention written by hand), not from an attention function
    from_softmax: bool = False
    #: the largest over heads of the mean weight a query puts on the key right after it (None: not a
    #: self-attention call)
    next_key_weight: float | None = None


Receiver = Callable[[AttentionCall], None]
_receivers: list[Receiver] = []
_original: list[Any] = []  # the unwrapped function while wrapped
#: (owner, name, original, whether the owner had it as its own attribute) of each softmax while wrapped
_softmaxes: list[tuple[Any, str, Any, bool]] = []
_SOFTMAX = "softmax"  # the name wrapped in ``torch``, ``torch.nn.functional`` and on ``torch.Tensor``
#: non-empty inside a softmax wrapper or a measure: the softmax calls made there are not read
_measuring: list[bool] = []


def listen(receiver: Receiver) -> None:
    """Send each attention call's ``AttentionCall`` to ``receiver`` until
    ``unlisten``; the innermost listener receives them."""
    if receiver in _receivers:
        return
    _receivers.append(receiver)
    if not _original and hasattr(F, "scaled_dot_product_attention"):
        _original.append(F.scaled_dot_product_attention)
        F.scaled_dot_product_attention = _wrap(_original[0])
    if not _softmaxes:
        for owner in (torch, F, torch.Tensor):
            original = getattr(owner, _SOFTMAX, None)
            if original is not None:
                _softmaxes.append((owner, _SOFTMAX, original, _SOFTMAX in vars(owner)))
                setattr(owner, _SOFTMAX, _wrap_softmax(original))


def unlisten(receiver: Receiver) -> None:
    """Stop sending to ``receiver``; the functions are unwrapped when nobody listens."""
    if receiver in _receivers:
        _receivers.remove(receiver)
    if not _receivers and _original:
        F.scaled_dot_product_attention = _original.pop()
    while not _receivers and _softmaxes:
        owner, name, original, own = _softmaxes.pop()
        if own:
            setattr(owner, name, original)
        else:  # inherited (``Tensor.softmax`` is ``TensorBase``'s): remove the wrapper, not shadow it
            delattr(owner, name)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                     dropout_p: float = 0.0, is_causal: bool = False, scale: Any = None,
                                     **kwargs: Any) -> Any:
        out = original(query, key, value, attn_mask, dropout_p, is_causal, scale=scale, **kwargs)
        if _receivers and torch.is_grad_enabled():
            try:
                with torch.no_grad():
                    call = measure(query, key, attn_mask, is_causal, scale)
                if call is not None:
                    _receivers[-1](call)
            except Exception:  # a statistic that could not be computed is left out, never raised
                pass
        return out

    return scaled_dot_product_attention


def _wrap_softmax(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def softmax(scores: Any, *args: Any, **kwargs: Any) -> Any:
        if _measuring:  # inside a measure, or inside another softmax wrapper (``F.softmax`` calls the method)
            return original(scores, *args, **kwargs)
        _measuring.append(True)
        try:
            out = original(scores, *args, **kwargs)
        finally:
            _measuring.pop()
        if _receivers and torch.is_grad_enabled():
            _read_softmax(scores, out, kwargs.get("dim", args[0] if args else None))
        return out

    return softmax


def _read_softmax(scores: Any, out: Any, dim: Any) -> None:
    """Send the attention call a softmax was, if it was one; never raises."""
    _measuring.append(True)
    try:
        with torch.no_grad():
            call = from_softmax(scores, out, dim)
        if call is not None:
            _receivers[-1](call)
    except Exception:  # a statistic that could not be computed is left out, never raised
        pass
    finally:
        _measuring.pop()


def from_softmax(scores: Any, probs: Any, dim: Any) -> AttentionCall | None:
    """The ``AttentionCall`` of a softmax over the last dimension of (batch, [heads,] L, L) scores (a
    self-attention written by hand): entropies of the output ``probs``, keys hidden where the scores are at
    or below ``HIDDEN``. None for any other softmax."""
    if not (isinstance(scores, torch.Tensor) and isinstance(probs, torch.Tensor)):
        return None
    if scores.dim() not in (3, 4):
        return None
    if not isinstance(dim, int) or dim % scores.dim() != scores.dim() - 1 or probs.shape != scores.shape:
        return None
    length = scores.shape[-1]
    if scores.shape[-2] != length or length < 2 or not scores.is_floating_point():
        return None
    rows_probs, rows_scores = _heads(_rows(probs)).float(), _heads(_rows(scores))
    picks = _query_picks(length, probs.device)
    allowed = rows_scores.index_select(-2, picks) > HIDDEN
    picked = rows_probs.index_select(-2, picks)
    entropy = normalized_entropy(picked, allowed)
    if entropy is None:
        return None
    return AttentionCall(entropy, _sees_later(allowed, picks, length), from_softmax=True,
                         next_key_weight=next_key_weight(picked, picks, length))


def head_entropy(query: torch.Tensor, key: torch.Tensor, attn_mask: torch.Tensor | None = None,
                 is_causal: bool = False, scale: float | None = None) -> torch.Tensor | None:
    """Each head's attention entropy over its allowed keys, normalized to [0, 1] and averaged over rows
    and queries; ``None`` when no query may attend two keys. Shapes as ``scaled_dot_product_attention``:
    (..., heads, L, E) queries, (..., heads_kv, S, E) keys (grouped-query heads are repeated)."""
    call = measure(query, key, attn_mask, is_causal, scale)
    return None if call is None else call.entropy


def measure(query: torch.Tensor, key: torch.Tensor, attn_mask: torch.Tensor | None = None,
            is_causal: bool = False, scale: float | None = None) -> AttentionCall | None:
    """The ``AttentionCall`` of one call (see ``head_entropy``); None when no entropy can be computed."""
    if query.dim() < 2 or key.dim() != query.dim() or query.dim() > 4 or not query.is_floating_point():
        return None
    q, k = _heads(_rows(query)).float(), _heads(_rows(key)).float()  # (rows, heads, L, E)
    length, keys = q.shape[-2], k.shape[-2]
    picks = _query_picks(length, q.device)
    q = q.index_select(-2, picks)
    if k.shape[1] != q.shape[1] and q.shape[1] % k.shape[1] == 0:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    factor = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * factor
    allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device)
    if is_causal:
        allowed = torch.ones(length, keys, dtype=torch.bool, device=q.device).tril().index_select(0, picks)
    if attn_mask is not None:
        mask = _mask_rows(attn_mask, query.shape[0], length, picks)
        if mask.dtype == torch.bool:
            allowed = allowed & mask
        else:
            scores = scores + mask.float()
            allowed = allowed & (mask.float() > HIDDEN)
    scores = scores.masked_fill(~allowed, float("-inf"))
    _measuring.append(True)  # (its own softmax is not an attention call)
    try:
        probs = torch.softmax(scores, dim=-1)
    finally:
        _measuring.pop()
    entropy = normalized_entropy(probs, allowed)
    if entropy is None:
        return None
    if length != keys or length < 2:
        return AttentionCall(entropy)
    return AttentionCall(entropy, _sees_later(allowed, picks, keys), next_key_weight=next_key_weight(
        probs, picks, keys))


def _query_picks(length: int, device: torch.device) -> torch.Tensor:
    """The query positions measured: at most ``MAX_QUERIES``, evenly spaced."""
    return torch.linspace(0, length - 1, min(length, MAX_QUERIES), device=device).round().long()


def _sees_later(allowed: torch.Tensor, picks: torch.Tensor, keys: int) -> bool:
    """A measured query (at ``picks``) may attend a key after it (``allowed``: (..., picks, keys))."""
    upper = torch.arange(keys, device=allowed.device)[None, :] > picks[:, None]  # key after the query
    return bool((allowed & upper).any())


def next_key_weight(probs: torch.Tensor, picks: torch.Tensor, keys: int) -> float | None:
    """The largest over heads of the mean weight the queries at ``picks`` put on the key right after them;
    ``probs`` (rows, heads, picks, keys). None when no measured query has a next key."""
    has_next = picks + 1 < keys
    if not bool(has_next.any()):
        return None
    after = (picks[has_next] + 1).view(1, 1, -1, 1).expand(*probs.shape[:2], -1, 1)
    weight = probs[:, :, has_next].gather(-1, after).squeeze(-1)  # (rows, heads, queries)
    return float(weight.nan_to_num(0.0).mean((0, 2)).max())


def normalized_entropy(probs: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor | None:
    """Per head, the mean over rows and queries of each distribution's entropy divided by log(number of
    allowed keys); queries with fewer than two keys are left out. ``probs`` (rows, heads, L, S); ``allowed``
    broadcastable to it."""
    allowed = allowed.expand_as(probs)
    count = allowed.sum(-1).float()
    entropy = -torch.special.xlogy(probs, probs).nansum(-1) / count.clamp(min=2).log()  # (rows, heads, L)
    usable = (count >= 2) & torch.isfinite(entropy)
    if not bool(usable.any()):
        return None
    total = torch.where(usable, entropy, torch.zeros_like(entropy)).sum((0, 2))
    return (total / usable.sum((0, 2)).clamp(min=1)).clamp(0.0, 1.0)


def from_weights(weights: torch.Tensor) -> AttentionCall | None:
    """The ``AttentionCall`` from the attention weights a layer returned: (N, L, S) averaged over heads, or
    (N, H, L, S); a masked key has weight exactly 0."""
    if weights.dim() < 2 or not weights.is_floating_point():
        return None
    probs = _heads(_rows(weights)).float()
    entropy = normalized_entropy(probs, torch.ones_like(probs, dtype=torch.bool))
    if entropy is None:
        return None
    length, keys = probs.shape[-2:]
    if length != keys or length < 2:
        return AttentionCall(entropy)
    picks = torch.arange(length, device=probs.device)
    return AttentionCall(entropy, bool(probs.triu(1).gt(0).any()),
                         next_key_weight=next_key_weight(probs, picks, keys))


def _rows(t: torch.Tensor) -> torch.Tensor:
    """At most MAX_ROWS rows of the batch (dimension 0 of a tensor with a batch dimension)."""
    return t[:MAX_ROWS] if t.dim() >= 3 else t


def _heads(t: torch.Tensor) -> torch.Tensor:
    """(rows, heads, L, ·): a tensor without a head dimension has one head (and one row when 2-d)."""
    return t[None, None] if t.dim() == 2 else t[:, None] if t.dim() == 3 else t


def _mask_rows(mask: torch.Tensor, batch: int, length: int, picks: torch.Tensor) -> torch.Tensor:
    """The mask rows and query positions that match the sampled queries (it broadcasts otherwise)."""
    if mask.dim() >= 3 and mask.shape[0] == batch:
        mask = mask[:MAX_ROWS]
    if mask.dim() >= 2 and mask.shape[-2] == length:
        mask = mask.index_select(-2, picks)
    return mask
