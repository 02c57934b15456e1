"""Labeling modes (docs/methods.md §3), one module each: where a fake's target label comes from and what
condition a real is trained with. The interface is `base.LabelingMode`; `model.labeling` picks a
mode from the registry `LABELING`. Importing this package registers every mode."""

from condgan.training.labeling.base import LABELING, LabelingMode, evaluation_classes, labels_from_data
from condgan.training.labeling.categorical import (CategoricalMode, CategoryGenerator, group_onehots,
                                                   joint_probabilities)
from condgan.training.labeling.classifier import ClassifierLabeling, build_classifier
from condgan.training.labeling.dynamic import ClassifiedGenerator, DynamicLabeling
from condgan.training.labeling.infogan import InfoGANLabeling, info_loss
from condgan.training.labeling.predefined import PredefinedLabeling
from condgan.training.labeling.random_categories import RandomCategories

__all__ = [
    "LABELING", "CategoricalMode", "CategoryGenerator", "ClassifiedGenerator", "ClassifierLabeling",
    "DynamicLabeling", "InfoGANLabeling", "LabelingMode", "PredefinedLabeling", "RandomCategories",
    "build_classifier", "evaluation_classes", "group_onehots", "info_loss", "joint_probabilities",
    "labels_from_data",
]
