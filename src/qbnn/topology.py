"""Network topology: a DAG of neurons, and trained networks (the one type for QUBO, MIP and baselines).

Contract (see ``docs/network.md``):

* Inputs ``x`` are nodes ``0..d-1`` (named ``x0..x{d-1}``); neuron ``k`` (in topological order) is
  node ``d + k``.
* Neuron ``k`` computes ``z_k = Σ_{i ∈ in(k)} w_ik · v_i (+ b_k)`` and ``a_k = act(z_k)``. The
  topology's ``activation`` is ``sign`` (default, the BNN/QUBO contract: ``x, w, b ∈ {−1,+1}``,
  **sign(0) = +1**, exact int32 arithmetic) or ``step`` (``a = 1 if z >= 0 else 0``; Kurtz & Bah's
  MIP networks: real inputs and weights, float64 arithmetic layer by layer). Outputs are read
  through sign either way.
* Weight bits have one canonical order: neuron by neuron (topological order), each
  neuron's incoming edges in the order of its ``from`` list, then its bias if it has one.
* Binary task (one output): prediction ``sign(z_out)``; loss = #samples with ``sign(z_out) ≠ y``.
  Several outputs: targets are one-hot ±1; loss = Hamming distance of sign(z); prediction = argmax z.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from qbnn.errors import QbnnError
from qbnn.identity import Identity
from qbnn.io import atomic_output, open_h5
from qbnn.forward import forward_sign, forward_step
from qbnn.topology_size import guard_topology
from qbnn.topology_spec import ACTIVATIONS, NEURON_NAME, explicit_fields, layered_spec, receptive_field_spec
from qbnn.validate import int_attr, json_attr, reading, text_attr

__all__ = ["Topology", "Network", "NETWORK_FORMAT_VERSION", "WEIGHT_DOMAINS", "ACTIVATIONS", "NEURON_NAME"]


@dataclass(frozen=True)
class Topology:
    """A validated DAG of neurons (sign or step activation).

    Attributes
    ----------
    n_inputs : int
        Input width ``d``.
    names : tuple[str, ...]
        Neuron names in topological order (length ``N``).
    sources : tuple[np.ndarray, ...]
        For each neuron, int64 node indices of its inputs (``< d``: input pixel, else
        ``d + k``: neuron ``k``).
    bias : np.ndarray
        bool, shape ``(N,)``.
    outputs : tuple[int, ...]
        Neuron indices (``0..N-1``) of the outputs, in target order.
    activation : str
        Hidden activation: ``sign`` (±1) or ``step`` (0/1); see the module docstring.
    """

    n_inputs: int
    names: tuple[str, ...]
    sources: tuple[np.ndarray, ...]
    bias: np.ndarray
    outputs: tuple[int, ...]
    activation: str = "sign"
    weight_offsets: np.ndarray = field(init=False, repr=False, compare=False)
    #: runs ``(k0, k1)`` of consecutive neurons with the same sources and bias flag (a layer): one matmul each
    blocks: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise QbnnError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        sizes = np.array([len(s) + int(b) for s, b in zip(self.sources, self.bias)], dtype=np.int64)
        object.__setattr__(self, "weight_offsets", np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        blocks, k0 = [], 0
        src = [s.tobytes() for s in self.sources]  # quick equality of source lists
        for k in range(1, self.n_neurons + 1):
            if k == self.n_neurons or self.bias[k] != self.bias[k0] or src[k] != src[k0]:
                blocks.append((k0, k))
                k0 = k
        object.__setattr__(self, "blocks", tuple(blocks))

    # ------------------------------------------------------------------ sizes
    @property
    def n_neurons(self) -> int:
        return len(self.names)

    @property
    def n_weights(self) -> int:
        """Number of weight + bias bits."""
        return int(self.weight_offsets[-1])

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    def fan_in(self, k: int) -> int:
        """Number of terms in ``z_k`` (edges plus bias)."""
        return len(self.sources[k]) + int(self.bias[k])

    def weight_slice(self, k: int) -> slice:
        """Slice of neuron ``k``'s weights (edges, then bias) in the weight vector."""
        return slice(int(self.weight_offsets[k]), int(self.weight_offsets[k + 1]))

    def bias_mask(self) -> np.ndarray:
        """bool ``(n_weights,)``: True at the bias entries of the weight vector."""
        mask = np.zeros(self.n_weights, dtype=bool)
        mask[self.weight_offsets[1:][self.bias] - 1] = True
        return mask

    def node_name(self, node: int) -> str:
        return f"x{node}" if node < self.n_inputs else self.names[node - self.n_inputs]

    def weight_labels(self) -> list[str]:
        """Human-readable label of every weight bit, e.g. ``"x3->h0"`` or ``"bias->h0"``."""
        labels = []
        for k, name in enumerate(self.names):
            labels += [f"{self.node_name(int(s))}->{name}" for s in self.sources[k]]
            if self.bias[k]:
                labels.append(f"bias->{name}")
        return labels

    def depth(self) -> np.ndarray:
        """int64 ``(N,)``: 1 for neurons fed by inputs only, else 1 + max depth of neuron sources."""
        d = np.zeros(self.n_neurons, dtype=np.int64)
        for k, src in enumerate(self.sources):
            ns = src[src >= self.n_inputs] - self.n_inputs
            d[k] = 1 + (d[ns].max() if len(ns) else 0)
        return d

    def check_inputs(self, width: int) -> None:
        """Raise QbnnError if the data width differs from ``n_inputs``."""
        if int(width) != self.n_inputs:
            raise QbnnError(f"input width mismatch: network expects {self.n_inputs} inputs, data has {width}")

    # --------------------------------------------------------------- builders
    @classmethod
    def from_spec(cls, spec: dict[str, Any], n_inputs: int | None = None) -> "Topology":
        """Build from a parsed topology spec (any of the documented forms).

        ``n_inputs`` (the data width), when given, fills ``layers[0]``/``inputs`` if
        absent and is checked against them otherwise.
        """
        if not isinstance(spec, dict):
            raise QbnnError("topology must be a mapping (layers: [...] or inputs/neurons/outputs)")
        try:
            guard_topology(spec)  # from sizes alone, before building anything
            if "receptive_field" in spec:
                spec = receptive_field_spec(spec, n_inputs)
            elif "layers" in spec:
                spec = layered_spec(spec, n_inputs)
            elif "neurons" not in spec:
                raise QbnnError("topology needs 'layers', 'neurons' or 'receptive_field'")
            topo = cls(**explicit_fields(spec))
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            raise QbnnError(f"malformed topology ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
        if n_inputs is not None:
            topo.check_inputs(n_inputs)
        return topo

    @classmethod
    def layered(cls, layers: list[int], bias: bool = True, activation: str = "sign") -> "Topology":
        """Dense layered network, e.g. ``Topology.layered([16, 4, 1])`` (cached: MIP loops rebuild it often)."""
        return _layered(tuple(int(v) for v in layers), bool(bias), activation)

    @classmethod
    def load(cls, path: str | os.PathLike, n_inputs: int | None = None) -> "Topology":
        """Load a topology YAML (or JSON) file."""
        p = Path(path)
        if not p.is_file():
            raise QbnnError(f"topology file not found: {p}")
        try:
            spec = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise QbnnError(f"topology file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
        except (UnicodeDecodeError, OSError) as exc:
            raise QbnnError(f"topology file {p} is not readable text ({exc.__class__.__name__})") from None
        try:
            return cls.from_spec(spec, n_inputs)
        except QbnnError as exc:
            raise QbnnError(f"{p}: {exc}") from None

    def to_spec(self) -> dict[str, Any]:
        """Canonical explicit form (round-trips through :meth:`from_spec`)."""
        neurons = {}
        for k, name in enumerate(self.names):
            neurons[name] = {"from": [self.node_name(int(s)) for s in self.sources[k]], "bias": bool(self.bias[k])}
        spec = {"inputs": self.n_inputs, "neurons": neurons, "outputs": [self.names[o] for o in self.outputs]}
        return spec if self.activation == "sign" else {**spec, "activation": self.activation}  # sign: as before

    def to_json(self) -> str:
        return json.dumps(self.to_spec(), sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> "Topology":
        try:
            spec = json.loads(text)
        except (TypeError, ValueError):
            raise QbnnError("topology is not valid JSON") from None
        return cls.from_spec(spec)

    # ---------------------------------------------------------------- forward
    def forward(self, weights: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised forward pass.

        Parameters
        ----------
        weights : array, shape ``(n_weights,)`` or ``(R, n_weights)``: ±1 (sign topologies), any
            real values (step topologies).
        X : array, shape ``(S, d)``: ±1 (sign), real (step).

        Returns
        -------
        Z, A : arrays of shape ``(S, N)`` or ``(R, S, N)``: pre-activations and activations of every
        neuron; int32 with ``A = where(Z >= 0, 1, -1)`` (sign), float64 with ``A = (Z >= 0)`` (step).
        """
        W = np.asarray(weights)
        single = W.ndim == 1
        W = np.atleast_2d(W)
        if W.shape[1] != self.n_weights:
            raise QbnnError(f"weight vector has {W.shape[1]} entries, topology has {self.n_weights}")
        X = np.asarray(X)
        if X.ndim != 2:
            raise QbnnError(f"X must be 2-D (samples x inputs), got shape {X.shape}")
        self.check_inputs(X.shape[1])
        Z, A = (forward_sign if self.activation == "sign" else forward_step)(self, W, X)
        return (Z[0], A[0]) if single else (Z, A)

    def predict(self, weights: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predictions: ±1 (one output, sign of z) or class index (argmax z over outputs), shape ``(S,)`` or ``(R, S)``."""
        Z, _ = self.forward(weights, X)
        out = list(self.outputs)
        if self.n_outputs == 1:
            return np.where(Z[..., out[0]] >= 0, 1, -1).astype(np.int8)
        return np.argmax(Z[..., out], axis=-1).astype(np.int64)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """±1 target matrix ``(S, n_outputs)``: ``y`` itself (binary) or one-hot ±1 of class indices."""
        y = np.asarray(y)
        if self.n_outputs == 1:
            return y.reshape(-1, 1).astype(np.int8)
        if y.min() < 0 or y.max() >= self.n_outputs:
            raise QbnnError(f"class labels must lie in 0..{self.n_outputs - 1} for {self.n_outputs} outputs")
        T = -np.ones((len(y), self.n_outputs), dtype=np.int8)
        T[np.arange(len(y)), y.astype(np.int64)] = 1
        return T

    def sample_errors(self, weights: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample loss ``(S,)`` or ``(R, S)``: outputs whose sign differs from the ±1 target."""
        Z, _ = self.forward(weights, X)
        return (np.where(Z[..., list(self.outputs)] >= 0, 1, -1) != self.targets(y)).sum(axis=-1)

    def training_loss(self, weights: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray | int:
        """Exact training loss: #errors (binary) or Hamming distance to one-hot targets.

        Returns an int (single weight vector) or int64 array ``(R,)``.
        """
        loss = self.sample_errors(weights, X, y).sum(axis=-1)
        return int(loss) if np.ndim(loss) == 0 else loss.astype(np.int64)

    def accuracy(self, weights: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of samples predicted correctly (single weight vector)."""
        return float(np.mean(self.predict(weights, X) == np.asarray(y)))

    def layer_blocks(self) -> list[tuple[int, int]]:
        """The blocks of a dense layered topology, layer by layer (each block reads exactly the
        previous one, the first the inputs, the last is the outputs); QbnnError otherwise."""
        prev = np.arange(self.n_inputs)
        for k0, k1 in self.blocks:
            if not np.array_equal(self.sources[k0], prev):
                raise QbnnError("not a dense layered topology (a neuron does not read exactly the previous layer)")
            prev = self.n_inputs + np.arange(k0, k1)
        if list(self.outputs) != list(range(self.blocks[-1][0], self.n_neurons)):
            raise QbnnError("not a dense layered topology (the outputs are not the last layer)")
        return list(self.blocks)


@functools.lru_cache(maxsize=64)
def _layered(layers: tuple[int, ...], bias: bool, activation: str) -> Topology:
    spec = {"layers": list(layers), "bias": bias}
    return Topology.from_spec(spec if activation == "sign" else {**spec, "activation": activation})


#: weight domains of a network: ±1 (int8, the QUBO/BNN networks), or float64 values (MIP networks)
WEIGHT_DOMAINS = ("binary", "integer", "real")


@dataclass
class Network:
    """A trained network: a topology and its weight vector in canonical order: ±1 int8 (``domain``
    ``binary``, the default) or float64 (``integer``: whole weights, real biases; ``real``), the latter
    for step topologies (MIP networks)."""

    topology: Topology
    weights: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the run that trained it (stored as the file's ``identity`` attribute, with ``provenance``)
    identity: Identity = field(default_factory=Identity)
    domain: str = "binary"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.shape != (self.topology.n_weights,):
            raise QbnnError(f"network weights have shape {w.shape}, topology needs ({self.topology.n_weights},)")
        if self.domain not in WEIGHT_DOMAINS:
            raise QbnnError(f"weight domain must be one of {', '.join(WEIGHT_DOMAINS)}, got {self.domain!r}")
        if self.domain == "binary":
            if not np.isin(w, (-1, 1)).all():
                raise QbnnError("network weights must all be -1 or +1")
            self.weights = w.astype(np.int8)
            return
        if self.topology.activation != "step":
            raise QbnnError(f"{self.domain} weights need a step-activation topology (sign networks are ±1)")
        if not np.issubdtype(w.dtype, np.number) or not np.isfinite(w).all():
            raise QbnnError(f"{self.domain} network weights must be finite numbers")
        edges = w[~self.topology.bias_mask()] if self.domain == "integer" else None
        if edges is not None and not np.array_equal(edges, np.round(edges)):
            raise QbnnError("integer network weights must be whole numbers (biases may be real)")
        self.weights = w.astype(np.float64)

    @classmethod
    def from_layers(cls, weights: list, biases: list | None, domain: str = "real", **kw: Any) -> "Network":
        """The step network of per-layer arrays ``W_k`` ``(h_k, h_{k-1})`` and ``b_k`` ``(h_k,)`` (``biases``
        None: no bias): canonical order is each neuron's ``W`` row, then its ``b``."""
        layers = [int(np.shape(weights[0])[1])] + [int(np.shape(W)[0]) for W in weights]
        topo = Topology.layered(layers, bias=biases is not None, activation="step")
        parts = [np.column_stack([np.asarray(W, np.float64), np.asarray(b, np.float64)]) if biases is not None
                 else np.asarray(W, np.float64) for W, b in zip(weights, biases or [None] * len(weights))]
        return cls(topo, np.concatenate([p.ravel() for p in parts]), domain=domain, **kw)

    def layer_arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Inverse of :meth:`from_layers` for a dense layered topology: float64 ``(Ws, bs)`` (zero biases
        where a layer has none)."""
        t, Ws, bs = self.topology, [], []
        for k0, k1 in t.layer_blocks():
            fan, has_bias = len(t.sources[k0]), bool(t.bias[k0])
            M = self.weights[t.weight_offsets[k0]:t.weight_offsets[k1]].astype(np.float64).reshape(k1 - k0, fan + has_bias)
            Ws.append(np.ascontiguousarray(M[:, :fan]))
            bs.append(M[:, fan].copy() if has_bias else np.zeros(k1 - k0))
        return Ws, bs

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.topology.predict(self.weights, X)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return self.topology.accuracy(self.weights, X, y)

    def save(self, path: str | os.PathLike) -> None:
        """Write the network HDF5 (``/weights``: int8 ±1, float64 for integer/real; attrs ``topology``
        JSON, ``format``, ``format_version``, ``weight_domain``, ``identity``, ``provenance``, the
        metadata), atomically."""
        with atomic_output(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = "qbnn-network"
                f.attrs["format_version"] = NETWORK_FORMAT_VERSION
                f.attrs["weight_domain"] = self.domain
                f.attrs["topology"] = self.topology.to_json()
                f.create_dataset("weights", data=self.weights)
                f.create_dataset("weight_labels", data=np.array(self.topology.weight_labels(), dtype="S"))
                for k, v in self.metadata.items():
                    f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
                self.identity.write_attrs(f.attrs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Network":
        """Read a network HDF5 (also a version-0 ``qbnn-mip-network`` file of ``qbnn train-mip``,
        converted); any malformed part is one QbnnError naming the file."""
        with open_h5(path, "network file") as f, reading(path, "network file"):
            fmt = text_attr(f.attrs.get("format"))
            if fmt == LEGACY_MIP_FORMAT:
                return _load_legacy_mip(f, path)
            if fmt != "qbnn-network" or "weights" not in f:
                raise QbnnError(f"{path} is not a qbnn network file (missing format attribute or /weights)")
            version = int_attr(f.attrs.get("format_version", 0), "format_version")
            if version > NETWORK_FORMAT_VERSION:
                raise QbnnError(f"{path} has network format version {version}; this qbnn reads up to {NETWORK_FORMAT_VERSION}")
            if "topology" not in f.attrs:
                raise QbnnError(f"{path} lacks the topology attribute")
            topo = Topology.from_spec(json_attr(f.attrs["topology"], "topology"))
            if not hasattr(f["weights"], "dtype"):
                raise QbnnError(f"{path}: /weights is not a dataset")
            weights = f["weights"][()]
            if not np.issubdtype(np.asarray(weights).dtype, np.number):
                raise QbnnError(f"{path}: /weights must be numeric, got {np.asarray(weights).dtype}")
            domain = text_attr(f.attrs.get("weight_domain", "binary"))  # version 1: always binary
            meta = {k: _attr(v) for k, v in f.attrs.items() if k not in _RESERVED_ATTRS}
            try:
                return cls(topo, weights, meta, Identity.read_attrs(f.attrs, f"network file {path}"), domain)
            except QbnnError as exc:
                raise QbnnError(f"network file {path}: {exc}") from None


#: 2: ``weight_domain`` attribute (float64 integer/real weights) and step topologies (``activation``)
NETWORK_FORMAT_VERSION = 2
#: the former file kind of ``qbnn train-mip`` (per-layer ``layer{k}/weights`` and ``layer{k}/bias``)
LEGACY_MIP_FORMAT = "qbnn-mip-network"
_RESERVED_ATTRS = ("format", "format_version", "weight_domain", "topology", "identity", "provenance")


def _load_legacy_mip(f: h5py.File, path: str | os.PathLike) -> Network:
    """A ``qbnn-mip-network`` file as a step :class:`Network` (its other attributes become metadata)."""
    layers = json_attr(f.attrs.get("layers"), "layers")
    if not isinstance(layers, list) or len(layers) < 2 or not all(isinstance(v, int) and v > 0 for v in layers):
        raise QbnnError(f"network file {path}: malformed MIP network (layers {layers!r})")
    Ws, bs = [], []
    for k in range(len(layers) - 1):
        if f"layer{k}/weights" not in f or f"layer{k}/bias" not in f:
            raise QbnnError(f"network file {path}: malformed MIP network (no layer{k}/weights or layer{k}/bias)")
        Ws.append(np.asarray(f[f"layer{k}/weights"][()], float))
        bs.append(np.asarray(f[f"layer{k}/bias"][()], float))
        if Ws[-1].shape != (layers[k + 1], layers[k]) or bs[-1].shape != (layers[k + 1],):
            raise QbnnError(f"network file {path}: weight shapes do not match layers {layers}")
    meta = {k: _attr(v) for k, v in f.attrs.items() if k not in _RESERVED_ATTRS}
    domain = "integer" if bool(meta.get("integer", False)) else "real"
    try:
        return Network.from_layers(Ws, bs, domain, metadata=meta,
                                   identity=Identity.read_attrs(f.attrs, f"network file {path}"))
    except QbnnError as exc:
        raise QbnnError(f"network file {path}: {exc}") from None


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
