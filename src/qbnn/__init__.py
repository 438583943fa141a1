"""qbnn: exact training of binary neural networks by discrete optimisation.

Core data types (everything else speaks these):

* :class:`qbnn.topology.Topology` -- a DAG of sign neurons over ±1 inputs, with a
  canonical ordering of its weight (and bias) bits; :class:`qbnn.topology.Network`
  is a topology plus a ±1 weight vector.
* :class:`qbnn.qubo.QUBO` -- a binary quadratic model with its variable map.

``from qbnn import QuboBNNClassifier`` gives the scikit-learn estimator (:mod:`qbnn.estimator`); it is
imported on first use, so ``import qbnn`` (and every ``qbnn`` command that does not train) stays free of
scikit-learn and torch.
"""
import importlib

from qbnn.errors import QbnnError

__version__ = "0.1.0"
__all__ = ["QbnnError", "QuboBNNClassifier", "__version__"]

_LAZY = {"QuboBNNClassifier": "qbnn.estimator"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qbnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
