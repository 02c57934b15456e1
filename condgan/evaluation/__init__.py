"""Evaluation of trained generators (docs/evaluation.md): the evaluator, cached real references, external
fakes, reports. The protocol is described in docs/evaluation.md."""

from condgan.evaluation.evaluator import DEFAULT_METRICS, EvalResult, Evaluator
from condgan.evaluation.sources import evaluate_baseline, evaluate_fakes, evaluate_run

__all__ = ["DEFAULT_METRICS", "EvalResult", "Evaluator", "evaluate_baseline", "evaluate_fakes", "evaluate_run"]
