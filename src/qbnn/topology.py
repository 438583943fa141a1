"""Network topology: a DAG of sign neurons over ±1 inputs, and trained networks.

Contract (see ``docs/network.md``):

* Inputs ``x ∈ {−1,+1}^d`` are nodes ``0..d-1`` (named ``x0..x{d-1}``); neuron ``k`` (in
  topological order) is node ``d + k``.
* Neuron ``k`` computes ``z_k = Σ_{i ∈ in(k)} w_ik · v_i (+ b_k)`` with ``w, b ∈ {−1,+1}``
  and ``a_k = sign(z_k)``, **sign(0) = +1**.
* Weight bits have one canonical order: neuron by neuron (topological order), each
  neuron's incoming edges in the order of its ``from`` list, then its bias if it has one.
* Binary task (one output): prediction ``a_out``; loss = #samples with ``a_out ≠ y``.
  Several outputs: targets are one-hot ±1; loss = Hamming distance; prediction = argmax z.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from qbnn.errors import QbnnError
from qbnn.identity import Identity
from qbnn.io import atomic_output, open_h5
from qbnn.topology_size import guard_topology
from qbnn.validate import int_attr, json_attr, reading, text_attr

#: neuron names: identifiers that survive every file kind (HDF5 byte labels, C headers, weight labels "a->b")
NEURON_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class Topology:
    """A validated DAG of sign neurons.

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
    """

    n_inputs: int
    names: tuple[str, ...]
    sources: tuple[np.ndarray, ...]
    bias: np.ndarray
    outputs: tuple[int, ...]
    weight_offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = np.array([len(s) + int(b) for s, b in zip(self.sources, self.bias)], dtype=np.int64)
        object.__setattr__(self, "weight_offsets", np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

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
                spec = _receptive_field_spec(spec, n_inputs)
            elif "layers" in spec:
                spec = _layered_spec(spec, n_inputs)
            elif "neurons" not in spec:
                raise QbnnError("topology needs 'layers', 'neurons' or 'receptive_field'")
            topo = _explicit(spec)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            raise QbnnError(f"malformed topology ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
        if n_inputs is not None:
            topo.check_inputs(n_inputs)
        return topo

    @classmethod
    def layered(cls, layers: list[int], bias: bool = True) -> "Topology":
        """Dense layered network, e.g. ``Topology.layered([16, 4, 1])``."""
        return cls.from_spec({"layers": list(layers), "bias": bias})

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
        return {"inputs": self.n_inputs, "neurons": neurons, "outputs": [self.names[o] for o in self.outputs]}

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
        weights : array, shape ``(n_weights,)`` or ``(R, n_weights)``, values ±1.
        X : array, shape ``(S, d)``, values ±1.

        Returns
        -------
        Z, A : int32 arrays of shape ``(S, N)`` or ``(R, S, N)``: pre-activations and
        activations (``A = where(Z >= 0, 1, -1)``) of every neuron.
        """
        W = np.asarray(weights)
        single = W.ndim == 1
        W = np.atleast_2d(W).astype(np.int32)
        if W.shape[1] != self.n_weights:
            raise QbnnError(f"weight vector has {W.shape[1]} entries, topology has {self.n_weights}")
        X = np.asarray(X)
        if X.ndim != 2:
            raise QbnnError(f"X must be 2-D (samples x inputs), got shape {X.shape}")
        self.check_inputs(X.shape[1])
        R, S, d = W.shape[0], X.shape[0], self.n_inputs
        V = np.empty((R, S, d + self.n_neurons), dtype=np.int32)
        V[:, :, :d] = X.astype(np.int32)[None]
        Z = np.empty((R, S, self.n_neurons), dtype=np.int32)
        for k, src in enumerate(self.sources):  # loop over neurons, vectorised over replicas x samples
            sl = self.weight_slice(k)
            w = W[:, sl]
            z = np.einsum("rse,re->rs", V[:, :, src], w[:, : len(src)])
            if self.bias[k]:
                z += w[:, -1:]
            Z[:, :, k] = z
            V[:, :, d + k] = np.where(z >= 0, 1, -1)
        A = V[:, :, d:]
        return (Z[0], A[0]) if single else (Z, A)

    def predict(self, weights: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predictions: ±1 (one output) or class index (argmax z over outputs), shape ``(S,)`` or ``(R, S)``."""
        Z, A = self.forward(weights, X)
        out = list(self.outputs)
        if self.n_outputs == 1:
            return A[..., out[0]].astype(np.int8)
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

    def training_loss(self, weights: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray | int:
        """Exact training loss: #errors (binary) or Hamming distance to one-hot targets.

        Returns an int (single weight vector) or int64 array ``(R,)``.
        """
        _, A = self.forward(weights, X)
        T = self.targets(y)
        loss = (A[..., list(self.outputs)] != T).sum(axis=(-1, -2))
        return int(loss) if np.ndim(loss) == 0 else loss.astype(np.int64)

    def accuracy(self, weights: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of samples predicted correctly (single weight vector)."""
        return float(np.mean(self.predict(weights, X) == np.asarray(y)))


@dataclass
class Network:
    """A trained network: a topology and its ±1 weight vector (int8, canonical order)."""

    topology: Topology
    weights: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the run that trained it (stored as the file's ``identity`` attribute, with ``provenance``)
    identity: Identity = field(default_factory=Identity)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.shape != (self.topology.n_weights,):
            raise QbnnError(f"network weights have shape {w.shape}, topology needs ({self.topology.n_weights},)")
        if not np.isin(w, (-1, 1)).all():
            raise QbnnError("network weights must all be -1 or +1")
        self.weights = w.astype(np.int8)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.topology.predict(self.weights, X)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return self.topology.accuracy(self.weights, X, y)

    def save(self, path: str | os.PathLike) -> None:
        """Write the network HDF5 (``/weights`` int8 ±1; attrs ``topology`` JSON, ``format``, ``identity``,
        ``provenance``, the metadata), atomically."""
        with atomic_output(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = "qbnn-network"
                f.attrs["format_version"] = NETWORK_FORMAT_VERSION
                f.attrs["topology"] = self.topology.to_json()
                f.create_dataset("weights", data=self.weights)
                f.create_dataset("weight_labels", data=np.array(self.topology.weight_labels(), dtype="S"))
                for k, v in self.metadata.items():
                    f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
                self.identity.write_attrs(f.attrs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Network":
        """Read a network HDF5; any malformed part is one QbnnError naming the file."""
        with open_h5(path, "network file") as f, reading(path, "network file"):
            if text_attr(f.attrs.get("format")) != "qbnn-network" or "weights" not in f:
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
                raise QbnnError(f"{path}: /weights must be numeric ±1, got {np.asarray(weights).dtype}")
            meta = {k: _attr(v) for k, v in f.attrs.items()
                    if k not in ("format", "format_version", "topology", "identity", "provenance")}
            return cls(topo, weights, meta, Identity.read_attrs(f.attrs, f"network file {path}"))


NETWORK_FORMAT_VERSION = 1


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


# --------------------------------------------------------------------- parsing
def _layered_spec(spec: dict[str, Any], n_inputs: int | None) -> dict[str, Any]:
    unknown = set(spec) - {"layers", "bias"}
    if unknown:
        raise QbnnError(f"unknown topology key(s): {sorted(unknown)}")
    layers = spec["layers"]
    if not isinstance(layers, list) or len(layers) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in layers):
        raise QbnnError("'layers' must be a list of at least two integers, e.g. [16, 4, 1]")
    if any(n < 1 for n in layers):
        raise QbnnError(f"'layers' sizes must be positive, got {layers}")
    bias = _bias_flag(spec.get("bias", True))
    prev = [f"x{i}" for i in range(layers[0])]
    neurons: dict[str, dict] = {}
    for li, width in enumerate(layers[1:], start=1):
        last = li == len(layers) - 1
        names = [("out" if width == 1 else f"out{j}") if last else f"h{li}_{j}" for j in range(width)]
        for n in names:
            neurons[n] = {"from": prev, "bias": bias}
        prev = names
    return {"inputs": layers[0], "neurons": neurons, "outputs": prev}


def _receptive_field_spec(spec: dict[str, Any], n_inputs: int | None) -> dict[str, Any]:
    """Local receptive fields over an image grid: one hidden neuron per patch, then dense ``head`` layers."""
    unknown = set(spec) - {"receptive_field", "head", "bias"}
    if unknown:
        raise QbnnError(f"unknown topology key(s): {sorted(unknown)}")
    rf = spec["receptive_field"]
    if not isinstance(rf, dict) or "image" not in rf or "patch" not in rf:
        raise QbnnError("'receptive_field' needs 'image: [rows, cols]' and 'patch'")
    unknown = set(rf) - {"image", "patch", "stride", "channels"}
    if unknown:
        raise QbnnError(f"unknown receptive_field key(s): {sorted(unknown)}")
    rows, cols = _ints(rf["image"], 2, "receptive_field.image")
    ph, pw = _ints(rf["patch"], 2, "receptive_field.patch")
    (stride,) = _ints(rf.get("stride", 1), 1, "receptive_field.stride")
    (channels,) = _ints(rf.get("channels", 1), 1, "receptive_field.channels")
    if min(rows, cols, ph, pw, stride, channels) < 1 or ph > rows or pw > cols:
        raise QbnnError(f"invalid receptive field {rf} for a {rows}x{cols} image")
    bias = _bias_flag(spec.get("bias", True))
    neurons: dict[str, dict] = {}
    hidden = []
    for r0 in range(0, rows - ph + 1, stride):
        for c0 in range(0, cols - pw + 1, stride):
            src = [f"x{r * cols + c}" for r in range(r0, r0 + ph) for c in range(c0, c0 + pw)]
            for ch in range(channels):
                name = f"p{r0}_{c0}" + (f"_{ch}" if channels > 1 else "")
                neurons[name] = {"from": src, "bias": bias}
                hidden.append(name)
    head = spec.get("head", [1])
    if not isinstance(head, list) or not head or any(not isinstance(h, int) or h < 1 for h in head):
        raise QbnnError("'head' must be a non-empty list of positive layer widths, e.g. [1]")
    prev = hidden
    for li, width in enumerate(head):
        last = li == len(head) - 1
        names = [("out" if width == 1 else f"out{j}") if last else f"f{li}_{j}" for j in range(width)]
        for n in names:
            neurons[n] = {"from": prev, "bias": bias}
        prev = names
    return {"inputs": rows * cols, "neurons": neurons, "outputs": prev}


def _ints(v: Any, n: int, what: str) -> tuple[int, ...]:
    """``n`` positive integers from one integer (repeated) or a list of ``n`` integers."""
    vals = [v] * n if _is_int(v) else v
    if not isinstance(vals, list) or len(vals) != n or not all(_is_int(x) for x in vals):
        raise QbnnError(f"'{what}' must be {'a positive integer' if n == 1 else f'an integer or a list of {n} integers'}, got {v!r}")
    if any(x < 1 for x in vals):
        raise QbnnError(f"'{what}' must be positive, got {v!r}")
    return tuple(vals)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bias_flag(v: Any) -> bool:
    if not isinstance(v, bool):
        raise QbnnError(f"'bias' must be true or false, got {v!r}")
    return v


def _explicit(spec: dict[str, Any]) -> Topology:
    unknown = set(spec) - {"inputs", "neurons", "outputs"}
    if unknown:
        raise QbnnError(f"unknown topology key(s): {sorted(unknown)}")
    d = spec.get("inputs")
    if not isinstance(d, int) or isinstance(d, bool) or d < 1:
        raise QbnnError(f"'inputs' must be a positive integer, got {d!r}")
    neurons = spec.get("neurons")
    if not isinstance(neurons, dict) or not neurons:
        raise QbnnError("'neurons' must be a non-empty mapping name -> {from: [...], bias: bool}")
    inputs = {f"x{i}": i for i in range(d)}
    for name, body in neurons.items():
        if not isinstance(name, str) or name in inputs or not NEURON_NAME.fullmatch(name) or name == "bias":
            raise QbnnError(f"invalid neuron name {name!r}: names are ASCII letters, digits and '_', not starting "
                            f"with a digit, at most 64 characters, not 'bias' (x0..x{d-1} are the inputs)")
        if not isinstance(body, dict) or not isinstance(body.get("from"), list) or not body["from"]:
            raise QbnnError(f"neuron {name!r} needs a non-empty 'from' list")
        extra = set(body) - {"from", "bias"}
        if extra:
            raise QbnnError(f"neuron {name!r} has unknown key(s): {sorted(extra)}")
        _bias_flag(body.get("bias", False))
        for s in body["from"]:
            if s not in inputs and s not in neurons:
                raise QbnnError(f"neuron {name!r} reads from unknown source {s!r}")
        if len(set(body["from"])) != len(body["from"]):
            raise QbnnError(f"neuron {name!r} lists a source twice")
    order = _toposort({n: [s for s in b["from"] if s in neurons] for n, b in neurons.items()})
    index = {n: d + k for k, n in enumerate(order)}
    index.update(inputs)
    outputs = spec.get("outputs")
    if outputs is None:  # default: neurons nobody reads
        read = {s for b in neurons.values() for s in b["from"]}
        outputs = [n for n in order if n not in read]
    if not isinstance(outputs, list) or not outputs:
        raise QbnnError("'outputs' must be a non-empty list of neuron names")
    for o in outputs:
        if o not in neurons:
            raise QbnnError(f"output {o!r} is not a neuron")
    if len(set(outputs)) != len(outputs):
        raise QbnnError("'outputs' lists a neuron twice")
    return Topology(
        n_inputs=d,
        names=tuple(order),
        sources=tuple(np.array([index[s] for s in neurons[n]["from"]], dtype=np.int64) for n in order),
        bias=np.array([bool(neurons[n].get("bias", False)) for n in order], dtype=bool),
        outputs=tuple(order.index(o) for o in outputs),
    )


def _toposort(deps: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm, stable in declaration order; raises on a cycle."""
    remaining = {n: set(v) for n, v in deps.items()}
    order: list[str] = []
    while remaining:
        ready = [n for n, v in remaining.items() if not v]
        if not ready:
            cyc = sorted(remaining)
            raise QbnnError(f"topology has a cycle among neurons {cyc[:6]}{'...' if len(cyc) > 6 else ''}")
        for n in ready:
            order.append(n)
            del remaining[n]
        for v in remaining.values():
            v.difference_update(ready)
    return order
