"""Edge-scale BNN training through the QUBO route without holding the full-dataset QUBO.

* :mod:`.objective` — the documented loss, prediction rule, :class:`TrainingProblem`, :class:`NetState`;
* :mod:`.blocks` — exact sub-problems over one block of a neuron's incoming weights (exhaustive, MILP);
* :mod:`.block_qubo` — the block / batch QUBO itself (the full QUBO with the other bits fixed);
* :mod:`.lns` — weight-block large-neighbourhood search;
* :mod:`.consensus` — sample-batched QUBOs with consensus penalties;
* :mod:`.memory` — the memory estimate and guard;
* :mod:`.validation` — the opt-in validation early stop (held-out share, best-validating incumbent);
* :mod:`.kappa_cv` — the hinge margin κ by rule or by k-fold cross-validation (``kappa="cv"``);
* :mod:`.train` — :func:`train` and the strategy table.
"""
from qbnn.training.objective import NetState, TrainingProblem, loss_name, prediction_rule
from qbnn.training.train import (DEFAULT_BLOCK_SIZE, DEFAULT_STRATEGY, STRATEGIES, SURROGATES, WARM_STARTS, TrainResult,
                                 train)

__all__ = ["DEFAULT_BLOCK_SIZE", "SURROGATES", "NetState", "TrainingProblem", "loss_name", "prediction_rule", "DEFAULT_STRATEGY", "STRATEGIES",
           "WARM_STARTS", "TrainResult", "train"]
