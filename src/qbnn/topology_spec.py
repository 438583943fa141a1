"""Topology specs (layered, receptive-field, explicit; see ``docs/network.md``) parsed into the
canonical explicit form and validated; :class:`qbnn.topology.Topology` is built from the result."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from qbnn.errors import QbnnError

#: neuron names: identifiers that survive every file kind (HDF5 byte labels, C headers, weight labels "a->b")
NEURON_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: hidden-neuron activations: sign (±1, sign(0) = +1; the BNN/QUBO contract) or step (0/1, step(0) = 1;
#: Kurtz & Bah's MIP networks). Outputs are always read through sign (prediction, loss).
ACTIVATIONS = ("sign", "step")


def activation_of(spec: dict[str, Any]) -> str:
    """The spec's ``activation`` (default ``sign``), validated."""
    act = spec.get("activation", "sign")
    if act not in ACTIVATIONS:
        raise QbnnError(f"'activation' must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
    return act


def _activation_key(spec: dict[str, Any]) -> dict[str, str]:
    act = activation_of(spec)
    return {} if act == "sign" else {"activation": act}


def layered_spec(spec: dict[str, Any], n_inputs: int | None) -> dict[str, Any]:
    unknown = set(spec) - {"layers", "bias", "activation"}
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
    return {"inputs": layers[0], "neurons": neurons, "outputs": prev, **_activation_key(spec)}


def receptive_field_spec(spec: dict[str, Any], n_inputs: int | None) -> dict[str, Any]:
    """Local receptive fields over an image grid: one hidden neuron per patch, then dense ``head`` layers."""
    unknown = set(spec) - {"receptive_field", "head", "bias", "activation"}
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
    return {"inputs": rows * cols, "neurons": neurons, "outputs": prev, **_activation_key(spec)}


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


def explicit_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate an explicit spec; -> the :class:`~qbnn.topology.Topology` constructor's keyword arguments."""
    unknown = set(spec) - {"inputs", "neurons", "outputs", "activation"}
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
    return dict(
        n_inputs=d,
        names=tuple(order),
        sources=tuple(np.array([index[s] for s in neurons[n]["from"]], dtype=np.int64) for n in order),
        bias=np.array([bool(neurons[n].get("bias", False)) for n in order], dtype=bool),
        outputs=tuple(order.index(o) for o in outputs),
        activation=activation_of(spec),
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
