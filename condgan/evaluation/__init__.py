"""Evaluation of trained generators (SPEC §6): the evaluator, cached real references, reports."""

from condgan.evaluation.evaluator import DEFAULT_METRICS, Evaluator, evaluate_run

__all__ = ["DEFAULT_METRICS", "Evaluator", "evaluate_run"]
