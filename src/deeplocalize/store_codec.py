"""Compact, lossless encoding of one ``StepRecord`` for the run store (numpy + stdlib).

Layout: ``zlib(header_len:uint32 | header JSON | float64 matrix)``. The JSON header names the rows
(``[layer, channel]``, plus the batch ``data`` and ``target`` summaries) and carries epoch, loss, lr and
metrics; JSON keeps NaN/Inf (a NaN loss must come back as NaN, not as "unknown"). Every summary vector is
one row of the matrix, stored as float64 bytes so replayed values are bit-identical to the recorded ones.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from deeplocalize import summary
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

_LEN = struct.Struct("<I")
_DATA, _TARGET = "data", "target"
_CHANNELS = frozenset(str(c) for c in Channel)


#: (row keys, the JSON of their row names) of the last few key orders encoded: a probe alternates a few
#: (routine and full-statistics steps), so most records repeat one of them
_rows_cache: list[tuple[tuple[Any, ...], str]] = []
_ROWS_CACHED = 4


def encode(record: StepRecord) -> bytes:
    """Serialize a record (its ``step`` is stored by the caller, as a column)."""
    rows = _rows_json(record)
    vectors = list(record.stats.values())
    vectors += [vec for vec in (record.data, record.target) if vec is not None]
    matrix = _matrix(vectors).tobytes() if vectors else b""
    head = json.dumps(
        {
            "e": int(record.epoch),
            "l": record.loss if record.loss is None else float(record.loss),
            "r": record.lr if record.lr is None else float(record.lr),
            "m": {str(k): (None if v is None else float(v)) for k, v in record.metrics.items()},
            "n": summary.N_STATS,
        },
        separators=(",", ":"),
    )
    header = f'{head[:-1]},"k":{rows}}}'.encode()  # as if "k" were the dict's last item
    return zlib.compress(_LEN.pack(len(header)) + header + matrix, 1)


def _rows_json(record: StepRecord) -> str:
    """JSON of the row names: ``[layer, channel]`` per statistic, then "data" and "target" when present."""
    global _rows_cache
    keys = (*record.stats, record.data is not None, record.target is not None)
    cached = _rows_cache
    text = next((text for known, text in cached if known == keys), None)  # == is cheaper than hash
    if text is None:
        rows: list[Any] = [[int(layer), str(channel)] for layer, channel in record.stats]
        rows += [name for name, vec in ((_DATA, record.data), (_TARGET, record.target)) if vec is not None]
        text = json.dumps(rows, separators=(",", ":"))
        _rows_cache = [(keys, text), *cached][:_ROWS_CACHED]
    return text


def _matrix(vectors: list[Any]) -> np.ndarray:
    """The vectors stacked as float64 rows (one numpy call when they stack as plain rows)."""
    try:
        matrix = np.array(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.ndim != 2 or matrix.shape[0] != len(vectors):
        matrix = np.stack([np.asarray(vec, dtype=np.float64) for vec in vectors])
    return matrix


def decode(step: int, blob: bytes) -> StepRecord:
    """Inverse of ``encode``; raises ValueError on a damaged blob."""
    try:
        raw = zlib.decompress(blob)
        (size,) = _LEN.unpack_from(raw)
        header = json.loads(raw[_LEN.size : _LEN.size + size])
        width = int(header["n"])
        rows = header["k"]
        matrix = np.frombuffer(raw[_LEN.size + size :], dtype=np.float64).reshape(len(rows), width)
    except (zlib.error, struct.error, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"damaged step record {step}: {exc}") from exc
    matrix = _fit_width(matrix.copy())
    record = StepRecord(
        step=int(step),
        epoch=int(header.get("e", 0)),
        loss=header.get("l"),
        lr=header.get("r"),
        metrics={k: (float("nan") if v is None else float(v)) for k, v in header.get("m", {}).items()},
    )
    for row, vec in zip(rows, matrix, strict=True):
        if row == _DATA:
            record.data = vec
        elif row == _TARGET:
            record.target = vec
        elif row[1] in _CHANNELS:  # a channel this version does not know is skipped
            record.stats[(int(row[0]), Channel(row[1]))] = vec
    return record


def _fit_width(matrix: np.ndarray) -> np.ndarray:
    """Pad (NaN) or cut rows written by a version with another number of statistics."""
    width = matrix.shape[1]
    if width == summary.N_STATS:
        return matrix
    if width > summary.N_STATS:
        return matrix[:, : summary.N_STATS]
    pad = np.full((matrix.shape[0], summary.N_STATS - width), np.nan)
    return np.concatenate([matrix, pad], axis=1)
