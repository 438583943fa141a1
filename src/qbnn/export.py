"""Bit-packed export of trained networks and XNOR-popcount inference.

Packed format (``.npz`` keys, all little-endian):

* ``n_inputs`` (int64 scalar), ``n_neurons`` (int64 scalar);
* ``src_offsets`` int64 ``(N+1,)`` and ``sources`` int32 ``(E,)``: neuron ``k`` reads the
  nodes ``sources[src_offsets[k]:src_offsets[k+1]]`` (node ``< d``: input, else neuron
  ``node - d``), in the order of its ``from`` list;
* ``word_offsets`` int64 ``(N+1,)`` and ``weights`` uint64 ``(W,)``: neuron ``k``'s edge
  weights, bit ``j % 64`` of word ``word_offsets[k] + j // 64`` is 1 for ``w_j = +1``
  (padding bits are 0);
* ``bias`` int8 ``(N,)``: the bias value ±1, or 0 for a neuron without bias;
* ``outputs`` int32: output neuron indices in target order;
* ``topology`` (str): the topology JSON, ``format`` = ``"qbnn-packed"``, ``format_version``.

Inference: the ±1 values of a neuron's sources are gathered into a packed vector ``v``
(bit = 1 for +1) and ``z = 2·popcount(XNOR(w, v) & mask) − fan_in (+ bias)``,
``a = sign(z)`` with sign(0) = +1 — bit-for-bit the same as :meth:`Topology.forward`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from qbnn.errors import QbnnError
from qbnn.io import atomic_output, stable_hash
from qbnn.topology import Network

PACKED_FORMAT_VERSION = 1
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


# ------------------------------------------------------------------ packing
def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean array ``(..., m)`` into uint64 words ``(..., ceil(m/64))``, bit j -> word j//64, bit j%64."""
    bits = np.asarray(bits, dtype=bool)
    m = bits.shape[-1]
    nw = max(1, -(-m // 64))
    pad = nw * 64 - m
    if pad:
        bits = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), dtype=bool)], axis=-1)
    by = np.packbits(bits, axis=-1, bitorder="little")
    return np.ascontiguousarray(by).view("<u8").astype(np.uint64)


def _popcount(a: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(a).astype(np.int64)
    by = np.ascontiguousarray(a).view(np.uint8)  # pragma: no cover - numpy < 2.0
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    return table[by].reshape(a.shape + (8,)).sum(-1)


def _last_mask(m: int) -> np.uint64:
    r = m % 64
    return _ALL if r == 0 else np.uint64((1 << r) - 1)


def check_packable(net: Network, where: str = "network") -> None:
    """Refuse (QbnnError naming ``where``) a network that is not ±1 with sign activations: packing is one
    bit per weight and XNOR-popcount neurons (train-mip's real-weight step networks are not)."""
    if net.domain != "binary" or net.topology.activation != "sign":
        raise QbnnError(f"{where}: only ±1 sign networks can be bit-packed; this one has {net.domain} weights "
                        f"and {net.topology.activation} activations (a train-mip network)")


def pack_network(net: Network) -> dict[str, Any]:
    """The packed representation (dict of arrays, see module docstring)."""
    check_packable(net)
    topo = net.topology
    w = net.weights
    src_off = [0]
    word_off = [0]
    sources, words = [], []
    bias = np.zeros(topo.n_neurons, dtype=np.int8)
    for k, src in enumerate(topo.sources):
        sl = topo.weight_slice(k)
        wk = w[sl]
        m = len(src)
        sources.append(np.asarray(src, dtype=np.int32))
        words.append(pack_bits(wk[:m] > 0))
        if topo.bias[k]:
            bias[k] = wk[-1]
        src_off.append(src_off[-1] + m)
        word_off.append(word_off[-1] + len(words[-1]))
    return {
        "format": np.array("qbnn-packed"),
        "format_version": np.int64(PACKED_FORMAT_VERSION),
        "n_inputs": np.int64(topo.n_inputs),
        "n_neurons": np.int64(topo.n_neurons),
        "src_offsets": np.array(src_off, dtype=np.int64),
        "sources": np.concatenate(sources).astype(np.int32),
        "word_offsets": np.array(word_off, dtype=np.int64),
        "weights": np.concatenate(words).astype(np.uint64),
        "bias": bias,
        "outputs": np.array(topo.outputs, dtype=np.int32),
        "topology": np.array(topo.to_json()),
    }


def model_sizes(net: Network) -> dict[str, int | float]:
    """Parameter storage in bytes: packed (uint64 words + int8 bias) vs float32 / int8 per weight."""
    p = pack_network(net)
    has_bias = int(net.topology.bias.sum())
    packed = int(p["weights"].nbytes) + (int(p["bias"].nbytes) if has_bias else 0)
    f32 = 4 * net.topology.n_weights
    return {"packed_bytes": packed, "float32_bytes": f32, "int8_bytes": net.topology.n_weights,
            "compression_vs_float32": round(f32 / packed, 3) if packed else 0.0}


# ------------------------------------------------------------------ inference
def _as_packed(packed: Mapping[str, Any] | str | os.PathLike) -> dict[str, np.ndarray]:
    if isinstance(packed, (str, os.PathLike)):
        p = Path(packed)
        if not p.is_file():
            raise QbnnError(f"packed network not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as f:
                packed = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise QbnnError(f"{p} is not a readable .npz file ({exc.__class__.__name__})") from None
    need = ("n_inputs", "n_neurons", "src_offsets", "sources", "word_offsets", "weights", "bias", "outputs")
    missing = [k for k in need if k not in packed]
    if missing:
        raise QbnnError(f"packed network lacks {missing}")
    return {k: np.asarray(packed[k]) for k in need}


def forward_packed(packed: Mapping[str, Any] | str | os.PathLike, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """XNOR-popcount forward pass: ``(Z, A)`` int32 ``(S, N)`` like :meth:`Topology.forward`."""
    P = _as_packed(packed)
    d, N = int(P["n_inputs"]), int(P["n_neurons"])
    X = np.asarray(X)
    if X.ndim != 2:
        raise QbnnError(f"X must be 2-D (samples x inputs), got shape {X.shape}")
    if X.shape[1] != d:
        raise QbnnError(f"input width mismatch: network expects {d} inputs, data has {X.shape[1]}")
    S = X.shape[0]
    V = np.zeros((S, d + N), dtype=bool)  # bit = 1 for +1
    V[:, :d] = X > 0
    Z = np.empty((S, N), dtype=np.int32)
    so, wo = P["src_offsets"], P["word_offsets"]
    for k in range(N):
        src = P["sources"][so[k]:so[k + 1]]
        m = len(src)
        v = pack_bits(V[:, src])  # (S, nw): the neuron's gathered inputs, packed
        x = ~(v ^ P["weights"][wo[k]:wo[k + 1]][None, :])  # XNOR
        x[:, -1] &= _last_mask(m)
        z = 2 * _popcount(x).sum(axis=1) - m + int(P["bias"][k])
        Z[:, k] = z
        V[:, d + k] = z >= 0
    A = np.where(V[:, d:], 1, -1).astype(np.int32)
    return Z, A


def predict_packed(packed: Mapping[str, Any] | str | os.PathLike, X: np.ndarray) -> np.ndarray:
    """Predictions from a packed network: ±1 int8 (one output) or int64 argmax of output z."""
    P = _as_packed(packed)
    Z, A = forward_packed(P, X)
    out = [int(o) for o in P["outputs"]]
    if len(out) == 1:
        return A[:, out[0]].astype(np.int8)
    return np.argmax(Z[:, out], axis=-1).astype(np.int64)


# ------------------------------------------------------------------ writers
def export_npz(net: Network, path: str | os.PathLike) -> dict[str, Any]:
    P = pack_network(net)
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **P)
    return P


def _c_array(ctype: str, name: str, values, fmt=str, per_line: int = 12) -> str:
    vals = [fmt(v) for v in values]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(vals)}] = {{\n    {body}\n}};\n"


C_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def c_header(net: Network, prefix: str = "qbnn") -> str:
    """A dependency-free C99 header with the packed network and ``<prefix>_predict``.

    Every symbol starts with ``prefix`` (macros with its upper case), so headers of several networks
    exported with different prefixes can be included in one program; the include guard names the
    network's content hash, so two different networks never share a guard.
    """
    if not C_PREFIX.fullmatch(prefix):
        raise QbnnError(f"C prefix {prefix!r} must be a C identifier (letters, digits, '_'; at most 32)")
    text = _c_header(net, f"QBNN_NETWORK_{stable_hash([net.topology.to_spec(), net.weights.tolist()]).upper()}_H")
    if prefix != "qbnn":
        text = text.replace("qbnn_", f"{prefix}_").replace("QBNN_", f"{prefix.upper()}_")
    return text


def _c_header(net: Network, guard: str) -> str:
    P = pack_network(net)
    topo = net.topology
    d, N, n_out = topo.n_inputs, topo.n_neurons, topo.n_outputs
    v_words = -(-(d + N) // 64)
    out = [
        "/* Generated by qbnn export-network: a binary neural network, bit-packed.",
        " * x[i] in {-1,+1}; neuron k: z = 2*popcount(XNOR(w, v) & mask) - fan_in (+ bias), a = z >= 0 ? +1 : -1.",
        f" * {d} inputs, {N} neurons, {topo.n_weights} weight bits, {n_out} output(s).",
        " * qbnn_predict returns a_out (+1/-1) for one output, else the argmax of the output z (first max). */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "#include <stdint.h>",
        "",
        f"#define QBNN_N_INPUTS {d}",
        f"#define QBNN_N_NEURONS {N}",
        f"#define QBNN_N_OUTPUTS {n_out}",
        f"#define QBNN_N_WEIGHT_BITS {topo.n_weights}",
        f"#define QBNN_V_WORDS {v_words}",
        "",
        _c_array("uint32_t", "qbnn_src_offsets", P["src_offsets"]),
        _c_array("uint32_t", "qbnn_sources", P["sources"]),
        _c_array("uint32_t", "qbnn_word_offsets", P["word_offsets"]),
        _c_array("uint64_t", "qbnn_weights", P["weights"], fmt=lambda v: f"0x{int(v):016x}ULL", per_line=4),
        _c_array("int8_t", "qbnn_bias", P["bias"]),
        _c_array("uint32_t", "qbnn_outputs", P["outputs"]),
        f"""
/* Forward pass; fills z[QBNN_N_NEURONS] (pre-activations) when z is not NULL. */
static inline int qbnn_predict_z(const int8_t *x, int32_t *z_all)
{{
    uint64_t v[QBNN_V_WORDS];
    int32_t zo[QBNN_N_OUTPUTS];
    uint32_t i, k, j, o;
    for (i = 0; i < QBNN_V_WORDS; ++i) v[i] = 0;
    for (o = 0; o < QBNN_N_OUTPUTS; ++o) zo[o] = 0;
    for (i = 0; i < QBNN_N_INPUTS; ++i)
        if (x[i] > 0) v[i >> 6] |= (uint64_t)1 << (i & 63);
    for (k = 0; k < QBNN_N_NEURONS; ++k) {{
        uint32_t s0 = qbnn_src_offsets[k], m = qbnn_src_offsets[k + 1] - s0;
        const uint64_t *w = qbnn_weights + qbnn_word_offsets[k];
        int32_t pc = 0, zk;
        uint64_t acc = 0;
        for (j = 0; j < m; ++j) {{
            uint32_t s = qbnn_sources[s0 + j];
            acc |= ((v[s >> 6] >> (s & 63)) & (uint64_t)1) << (j & 63);
            if ((j & 63) == 63 || j + 1 == m) {{
                uint64_t x_nor = ~(acc ^ w[j >> 6]);
                if ((j & 63) != 63) x_nor &= ((uint64_t)1 << ((j & 63) + 1)) - 1;
                pc += __builtin_popcountll(x_nor);
                acc = 0;
            }}
        }}
        zk = 2 * pc - (int32_t)m + qbnn_bias[k];
        if (z_all) z_all[k] = zk;
        for (o = 0; o < QBNN_N_OUTPUTS; ++o)
            if (qbnn_outputs[o] == k) zo[o] = zk;
        if (zk >= 0) {{ uint32_t node = QBNN_N_INPUTS + k; v[node >> 6] |= (uint64_t)1 << (node & 63); }}
    }}
#if QBNN_N_OUTPUTS == 1
    return zo[0] >= 0 ? 1 : -1;
#else
    {{
        int best = 0;
        for (o = 1; o < QBNN_N_OUTPUTS; ++o)
            if (zo[o] > zo[best]) best = (int)o;
        return best;
    }}
#endif
}}

/* Prediction for one sample x[QBNN_N_INPUTS] of +1/-1 values. */
static inline int qbnn_predict(const int8_t *x)
{{
    return qbnn_predict_z(x, (int32_t *)0);
}}

#endif /* {guard} */
""",
    ]
    return "\n".join(out)


def export_c_header(net: Network, path: str | os.PathLike, prefix: str = "qbnn") -> None:
    text = c_header(net, prefix)
    with atomic_output(path) as tmp:
        tmp.write_text(text)
