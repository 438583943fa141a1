"""qbnn: exact training of binary neural networks by discrete optimisation.

Core data types (everything else speaks these):

* :class:`qbnn.topology.Topology` -- a DAG of sign neurons over ±1 inputs, with a
  canonical ordering of its weight (and bias) bits; :class:`qbnn.topology.Network`
  is a topology plus a ±1 weight vector.
* :class:`qbnn.qubo.QUBO` -- a binary quadratic model with its variable map.
"""
from qbnn.errors import QbnnError

__version__ = "0.1.0"
__all__ = ["QbnnError", "__version__"]
