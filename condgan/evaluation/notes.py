"""Why a metric was not computed, and what intra-FID left out: the sentences `EvalResult.skipped`
and `EvalResult.notes` carry into eval.json and the printed table."""

from __future__ import annotations


def skip_reasons(ev, why_unlabeled: str) -> dict[str, str]:
    """Why a MetricInputs field is absent for this evaluation (first field of an 'a|b' need);
    `ev` is the Evaluator."""
    ext = getattr(ev.extractor, "id", "?")
    no_labels = ("the data set is multi-label (attributes), not classes" if ev.multi_label
                 else "the data set is unlabeled" if not ev.single_label else why_unlabeled)
    no_distribution = f"the extractor '{ext}' is a multi-label (attribute) classifier: no class distribution"
    return {
        "data_classes": (f"the extractor '{ext}' classifies {getattr(ev.extractor, 'num_classes', '?')} "
                         f"classes of its own, not the data set's "
                         f"{len(ev.real.class_names) or 'no'} {'attributes' if ev.multi_label else 'classes'}"),
        "fake_labels": no_labels, "real_labels": no_labels, "requested_class_marginal": no_labels,
        "train_class_marginal": no_labels,
        "fake_probs": no_distribution, "real_probs": no_distribution,
        "fake_attributes": ("the data set has no attribute labels" if not ev.multi_label
                            else "the fakes have no attribute vectors"),
        "fake_attribute_probs": "the data set has no attribute labels",
        "predicted_clusters": "needs the cluster assignments of a self-labeling run, which evaluation does not compute",
        "fake_images": "no images of the fakes",
    }


def intra_fid_notes(flagged: dict[int, tuple[int, int]], min_real: int, split: str,
                    reported: bool) -> list[str]:
    """Notes on the classes intra-FID left out (class → (real, fake) counts), and on why it is
    absent when it left out every class."""
    if not flagged:
        return []
    reals = sorted({r for r, _ in flagged.values()})
    span = f"{reals[0]}" if len(reals) == 1 else f"{reals[0]}-{reals[-1]}"
    notes = [f"intra_fid: class(es) {', '.join(map(str, flagged))} left out of the average: a class needs "
             f"{min_real} real images (feature dims + 1) and 2 fakes, these have {span} real images in the "
             f"{split} split (counts in intra_fid_flagged_classes)"]
    if not reported:
        few_real = any(r < min_real for r, _ in flagged.values())
        notes.append("intra_fid not reported: every class is flagged ("
                     + ("evaluate against a split with more images per class, e.g. --real-split train"
                        if few_real else "generate at least 2 fakes per class") + ")")
    return notes
