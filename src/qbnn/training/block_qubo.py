"""The block / batch QUBO: the compiled QUBO of a sample batch with every bit outside a block fixed.

For a block of weights (any subset; LNS uses part of one neuron's incoming weights) and a batch
of samples, the free variables are the block's weight bits plus the activation, slack and product
bits of the neurons whose activations can change — the block's neurons and everything downstream.
All other bits are fixed at ``repair(w)``: their constraints involve only fixed weights and
unchanged activations, so their optimal completion does not depend on the block; so are product
bits ``u·α_src`` of an affected neuron whose weight ``u`` is fixed and whose source is unaffected.
Hence

    min over the free non-weight bits of E_block(w_B, ·) = F_batch(w with block w_B)

exactly (``F_batch`` = batch loss + ``h·w``, the compiled objective with λ = 0), which is what an
Ising machine with a bounded number of spins is given. Its size is reported by
:func:`block_qubo_size` without building it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qbnn.compiler import compile_bnn
from qbnn.compiler.layout import neuron_layout
from qbnn.qubo import QUBO, VAR_KINDS
from qbnn.training.objective import TrainingProblem


def restrict_qubo(q: QUBO, free: np.ndarray, x: np.ndarray) -> QUBO:
    """The QUBO over variables ``free`` (sorted indices) with all others fixed to their value in ``x``."""
    n = q.num_variables
    free = np.asarray(free, dtype=np.int64)
    is_free = np.zeros(n, dtype=bool)
    is_free[free] = True
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[free] = np.arange(len(free))
    xf = np.asarray(x, dtype=np.float64)
    fr, fc = is_free[q.rows], is_free[q.cols]
    both_fixed = ~fr & ~fc
    offset = q.offset + float(q.linear[~is_free] @ xf[~is_free])
    offset += float((q.values[both_fixed] * xf[q.rows[both_fixed]] * xf[q.cols[both_fixed]]).sum())
    linear = q.linear[free].copy()
    m = fr & ~fc  # free row, fixed column
    np.add.at(linear, new_index[q.rows[m]], q.values[m] * xf[q.cols[m]])
    m = ~fr & fc
    np.add.at(linear, new_index[q.cols[m]], q.values[m] * xf[q.rows[m]])
    m = fr & fc
    varmap = {k: v[free] for k, v in q.varmap.items()}
    return QUBO(linear, new_index[q.rows[m]], new_index[q.cols[m]], q.values[m], offset, varmap=varmap,
                attrs={"restricted_from": int(n)})


@dataclass
class BlockQUBO:
    qubo: QUBO  # over the free variables
    free: np.ndarray  # their indices in the batch QUBO
    block: np.ndarray  # the block's weight indices (canonical order)
    weight_pos: np.ndarray  # positions of the block's weight bits among the free variables
    compiled: object  # the batch's CompiledBNN

    def state(self, w: np.ndarray) -> np.ndarray:
        """0/1 free-variable state of the network ``w`` (its optimal completion)."""
        return self.compiled.repair(np.asarray(w))[self.free]

    def block_weights(self, bits: np.ndarray) -> np.ndarray:
        """±1 values of the block's weights in a free-variable 0/1 state."""
        return (2 * np.asarray(bits)[..., self.weight_pos].astype(np.int8) - 1).astype(np.int8)


def affected_neurons(topology, block: np.ndarray) -> np.ndarray:
    """Neurons owning a block weight, plus every neuron downstream of them."""
    owner = np.searchsorted(topology.weight_offsets, np.asarray(block), side="right") - 1
    hit = np.zeros(topology.n_neurons, dtype=bool)
    hit[np.unique(owner)] = True
    d = topology.n_inputs
    for k, src in enumerate(topology.sources):  # topological order: one pass suffices
        ns = src[src >= d] - d
        if len(ns) and hit[ns].any():
            hit[k] = True
    return np.flatnonzero(hit)


def build_block_qubo(problem: TrainingProblem, w: np.ndarray, block: np.ndarray, samples: np.ndarray) -> BlockQUBO:
    """Compile the batch ``samples`` (with the problem's weight penalties) and restrict it to ``block``."""
    block = np.unique(np.asarray(block, dtype=np.int64))
    samples = np.asarray(samples, dtype=np.int64)
    cb = compile_bnn(problem.topology, problem.X[samples], problem.y[samples],
                     weight_penalties=problem.weight_penalties)
    x = cb.repair(np.asarray(w))
    vm = cb.qubo.varmap
    is_weight = vm["kind"] == VAR_KINDS.index("weight")
    free_mask = np.zeros(cb.num_variables, dtype=bool)
    free_mask[block] = True
    affected = affected_neurons(problem.topology, block)
    free_mask |= ~is_weight & np.isin(vm["neuron"], affected)
    # a product bit u·α_src with u fixed and α_src unchanged is fixed at its repaired value: that
    # value is feasible and optimal for every block assignment, so the minimum is unchanged
    is_prod = vm["kind"] == VAR_KINDS.index("product")
    src = _edge_source_neuron(problem.topology)
    edge = np.where(is_prod, vm["edge"], 0)
    moving = np.isin(edge, block) | np.isin(src[edge], affected)
    free_mask &= ~is_prod | moving
    free = np.flatnonzero(free_mask)
    return BlockQUBO(restrict_qubo(cb.qubo, free, x), free, block, np.searchsorted(free, block), cb)


def _edge_source_neuron(topology) -> np.ndarray:
    """Per weight bit: the neuron its edge comes from (−1 for input pixels and biases)."""
    out = np.full(topology.n_weights, -1, dtype=np.int64)
    d = topology.n_inputs
    for k, src in enumerate(topology.sources):
        w0 = int(topology.weight_offsets[k])
        out[w0: w0 + len(src)] = np.where(src >= d, src - d, -1)
    return out


def block_qubo_size(topology, block: np.ndarray, n_samples: int) -> int:
    """Variables of the block QUBO over ``n_samples`` samples (from sizes alone, nothing built)."""
    layout, _ = neuron_layout(topology)
    block = np.unique(np.asarray(block, dtype=np.int64))
    affected = affected_neurons(topology, block)
    src = _edge_source_neuron(topology)
    per_sample = 0
    for k in affected:
        edges = layout[k].w0 + layout[k].nb_pos
        per_sample += 1 + len(layout[k].coefs) + int((np.isin(edges, block) | np.isin(src[edges], affected)).sum())
    return int(len(block) + n_samples * per_sample)
