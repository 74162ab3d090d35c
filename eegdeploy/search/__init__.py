"""Multi-objective search of per-layer keep ratios (NSGA-II via pymoo): accuracy against MACs or latency."""

from eegdeploy.search.core import (KEEP_LEVELS, Candidate, SearchConfig, SearchResult, candidate_plan, dominates,
                                   evaluate_candidate, pareto_front, search)

__all__ = ["KEEP_LEVELS", "Candidate", "SearchConfig", "SearchResult", "candidate_plan", "dominates",
           "evaluate_candidate", "pareto_front", "search"]
