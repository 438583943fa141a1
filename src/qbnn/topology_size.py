"""Memory estimate of building a :class:`qbnn.topology.Topology`, from its spec's numbers alone.

A receptive-field or layered spec of a few numbers can describe millions of weights; the estimate
lets :meth:`Topology.from_spec` refuse it with one line before it allocates anything.
"""
from __future__ import annotations

from qbnn.memory import check_fits

# building a Topology: per weight an int64 source index plus the transient Python list/int it is
# built from; per input the "x{i}" name dict entry; per neuron its spec entry, name and arrays
TOPOLOGY_BYTES_PER_WEIGHT = 64
TOPOLOGY_BYTES_PER_INPUT = 160
TOPOLOGY_BYTES_PER_NEURON = 600


def topology_size(spec) -> tuple[int, int, int] | None:
    """(inputs, neurons, weights) of a topology spec from its numbers alone (None if it is malformed;
    the topology parser then says why)."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(spec, dict):
        return None
    bias = int(spec.get("bias", True) is True)
    if "receptive_field" in spec:
        rf, head = spec["receptive_field"], spec.get("head", [1])
        if not isinstance(rf, dict) or not isinstance(head, list) or not all(is_int(h) and h > 0 for h in head):
            return None
        img, patch = rf.get("image"), rf.get("patch")
        patch = [patch, patch] if is_int(patch) else patch
        stride, ch = rf.get("stride", 1), rf.get("channels", 1)
        if not (isinstance(img, list) and isinstance(patch, list) and len(img) == len(patch) == 2
                and all(is_int(v) and v > 0 for v in [*img, *patch, stride, ch])):
            return None
        (r, c), (ph, pw) = img, patch
        if ph > r or pw > c:
            return None
        hidden = ((r - ph) // stride + 1) * ((c - pw) // stride + 1) * ch
        widths = [hidden, *head]
        weights = hidden * (ph * pw + bias) + sum((a + bias) * b for a, b in zip(widths, widths[1:]))
        return r * c, sum(widths), weights
    if "layers" in spec:
        layers = spec["layers"]
        if not isinstance(layers, list) or not all(is_int(v) and v > 0 for v in layers):
            return None
        return (layers[0] if layers else 0, sum(layers[1:]),
                sum((a + bias) * b for a, b in zip(layers, layers[1:])))
    neurons, d = spec.get("neurons"), spec.get("inputs")
    if not is_int(d) or not isinstance(neurons, dict):
        return None
    fan = sum(len(b.get("from", [])) + 1 for b in neurons.values() if isinstance(b, dict) and isinstance(b.get("from"), list))
    return d, len(neurons), fan


def guard_topology(spec) -> None:
    """Refuse (QbnnError) a topology whose construction alone would not fit in memory."""
    size = topology_size(spec)
    if size is None:
        return
    d, n, w = size
    need = d * TOPOLOGY_BYTES_PER_INPUT + n * TOPOLOGY_BYTES_PER_NEURON + w * TOPOLOGY_BYTES_PER_WEIGHT
    check_fits(need, f"building the topology ({d:,} inputs, {n:,} neurons, {w:,} weights)")
