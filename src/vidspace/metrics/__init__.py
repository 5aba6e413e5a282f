"""Retrieval metrics with the exact rank and tie conventions of docs/definitions.md.

- :mod:`~vidspace.metrics.ranking`: ranks in both directions (NumPy or torch) and the
  metrics computed from them;
- :mod:`~vidspace.metrics.scoring`: score post-processing and binary rescoring;
- :mod:`~vidspace.metrics.pools`: the candidate-pool protocol;
- :mod:`~vidspace.metrics.statistics`: bootstrap intervals and paired tests;
- :mod:`~vidspace.metrics.stage`: the retrieval and compare stages (files in, files out).
"""

from vidspace.metrics.pools import pool_metrics
from vidspace.metrics.ranking import (
    DEFAULT_CHUNK_ELEMENTS,
    query_ranks,
    ranking_device,
    retrieval_metrics,
    summarise_ranks,
    t2v_ranks,
    v2t_positions,
)
from vidspace.metrics.scoring import SCORINGS, rescored_keys, score_matrices
from vidspace.metrics.stage import compare_models, evaluate_file
from vidspace.metrics.statistics import bootstrap_ci, paired_bootstrap

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "SCORINGS",
    "bootstrap_ci",
    "compare_models",
    "evaluate_file",
    "paired_bootstrap",
    "pool_metrics",
    "query_ranks",
    "ranking_device",
    "rescored_keys",
    "retrieval_metrics",
    "score_matrices",
    "summarise_ranks",
    "t2v_ranks",
    "v2t_positions",
]
