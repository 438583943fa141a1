"""Exact QUBO compiler for BNN training (formulation in ``docs/formulation.md``).

:mod:`~qbnn.compiler.layout` places the variables, :mod:`~qbnn.compiler.build` compiles
(:func:`compile_bnn`), :mod:`~qbnn.compiler.compiled` holds the result (:class:`CompiledBNN`:
decode, repair, evaluate) and :mod:`~qbnn.compiler.storage` reads and writes its file. The QUBO
exporters (dimod BQM JSON, COO text) live beside the QUBO type in :mod:`qbnn.qubo`.
"""
from __future__ import annotations

from qbnn.compiler.build import compile_bnn, compile_estimate, data_hash, guard_compile
from qbnn.compiler.compiled import CompiledBNN
from qbnn.compiler.layout import FORMULATION, FORMULATION_VERSION, penalty_bound
from qbnn.compiler.storage import load_compiled, save_compiled

__all__ = ["compile_bnn", "compile_estimate", "guard_compile", "data_hash", "CompiledBNN", "FORMULATION",
           "FORMULATION_VERSION", "penalty_bound", "load_compiled", "save_compiled"]
