"""Cluster images with a trained self-labeling run (`condgan cluster`).

Every image is assigned the argmax of the run's category probabilities (Q for CGPGAN, the Q head
for InfoGAN, D's class head for dynamic labeling; `TrainedGenerator.category_probabilities`):

* images: the run's own data set (a split, default test, with its labels), or a directory of
  image files — a flat folder (searched recursively) is unlabeled, a folder of class
  sub-folders gives each image its sub-folder as true label. Files are decoded like the folder
  data source (`condgan.data.folder`) to the run's channels and size; an unreadable file is
  reported and skipped;
* outputs: one CSV row per image (`path` or `index`, `label` when known, `category`,
  `confidence` = the largest probability, `p_0..p_{K-1}`), one PNG grid of real images per
  non-empty category (most confident first), a JSON summary next to the CSV (category counts,
  unreadable files, and — with labels — clustering ACC (Hungarian matching), NMI and ARI, as the
  `clustering` metric computes them).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from condgan.errors import CondganError
from condgan.io import atomic_write_bytes, atomic_write_text
from condgan.evaluation.reference import reference_data_config
from condgan.training.restore import TrainedGenerator, load_generator

BATCH = 250
GRID_IMAGES = 64
GRID_COLUMNS = 8


@dataclass
class ClusterResult:
    names: list[str]
    """Per image: its file path (folders) or its index in the split (data sets)."""
    probabilities: torch.Tensor
    """(N, K) category probabilities."""
    labels: torch.Tensor | None
    """(N,) true classes, when known."""
    class_names: list[str]
    images: torch.Tensor
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) of the files that were skipped."""
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def categories(self) -> torch.Tensor:
        return self.probabilities.argmax(1)


def _images_of_split(trained: TrainedGenerator, split: str):
    from condgan.data import load_dataset

    data = load_dataset(reference_data_config(trained.cfg.data), split)
    labels = data.labels if data.labels is not None and not data.multi_label else None
    return ([str(i) for i in range(len(data))], data.images, labels,
            list(data.class_names) if labels is not None else [], [])


def _images_of_folder(trained: TrainedGenerator, root: str):
    from condgan.data.folder import _images_in, load_images_skipping

    directory = Path(root).expanduser()
    if not directory.is_dir():
        raise CondganError(f"--data-root '{root}' does not exist or is not a directory")
    class_dirs = sorted(d for d in directory.iterdir() if d.is_dir() and not d.name.startswith("."))
    top = _images_in(directory, recursive=False)
    if class_dirs and not top:  # class sub-folders: the sub-folder is the label
        files, labels = [], []
        for k, d in enumerate(class_dirs):
            found = _images_in(d, recursive=True)
            files += found
            labels += [k] * len(found)
        names = [d.name for d in class_dirs]
    else:
        files, labels, names = _images_in(directory, recursive=True), None, []
    if not files:
        raise CondganError(f"no images found in --data-root '{root}' (looked for files PIL can read, "
                           "e.g. .png, .jpg)")
    channels, size = trained.info.sample_shape[0], trained.info.sample_shape[-1]
    images, failures = load_images_skipping(files, channels, size)
    bad = {i for i, _ in failures}
    if len(bad) == len(files):
        raise CondganError(f"none of the {len(files)} image files in --data-root '{root}' could be read "
                           f"(first: {failures[0][1]})")
    keep = [i for i in range(len(files)) if i not in bad]
    y = torch.tensor([labels[i] for i in keep], dtype=torch.int64) if labels is not None else None
    return ([str(files[i]) for i in keep], images, y, names,
            [(str(files[i]), reason) for i, reason in failures])


@torch.no_grad()
def cluster_images(trained: TrainedGenerator, data_root: str | None = None, split: str = "test") -> ClusterResult:
    """Assign the images of `data_root` (or of the run's `split`) to the run's categories."""
    from condgan.metrics import MetricInputs, compute_metrics

    if trained.category_probabilities is None:
        raise CondganError(
            f"the run (model.labeling={trained.cfg.model.labeling}) has no category predictor; "
            "clustering needs a self-labeling run: model.labeling=classifier (CGPGAN), infogan or dynamic")
    if len(trained.info.sample_shape) != 3:
        raise CondganError("the run generates vector data; clustering needs an image run")
    if data_root is None:
        names, images, labels, class_names, unreadable = _images_of_split(trained, split)
    else:
        names, images, labels, class_names, unreadable = _images_of_folder(trained, data_root)
    probs = torch.cat([trained.category_probabilities(images[i:i + BATCH].to(trained.device)).float().cpu()
                       for i in range(0, len(images), BATCH)])
    result = ClusterResult(names, probs, labels, class_names, images, unreadable)
    if labels is not None:
        result.metrics = compute_metrics(MetricInputs(predicted_clusters=result.categories, real_labels=labels),
                                         ["clustering"])
    return result


def write_cluster_outputs(result: ClusterResult, out_csv: str | Path, from_folder: bool) -> dict:
    """The CSV, the per-category grids (`<stem>_grids/category_<k>.png`), the unreadable-file
    list (`<stem>.unreadable.txt`, when there are any) and the JSON summary (`<stem>.json`);
    returns the summary."""
    from condgan.training.sampling import image_grid_png

    out_csv = Path(out_csv)
    k = result.probabilities.shape[1]
    cats, conf = result.categories, result.probabilities.max(1).values
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path" if from_folder else "index"] + (["label"] if result.labels is not None else [])
                    + ["category", "confidence"] + [f"p_{j}" for j in range(k)])
    for i, name in enumerate(result.names):
        label = [result.class_names[int(result.labels[i])]] if result.labels is not None else []
        writer.writerow([name] + label + [int(cats[i]), f"{float(conf[i]):.6f}"]
                        + [f"{float(p):.6f}" for p in result.probabilities[i]])
    atomic_write_text(out_csv, buf.getvalue())
    grids = out_csv.parent / f"{out_csv.stem}_grids"
    grids.mkdir(parents=True, exist_ok=True)
    counts = torch.bincount(cats, minlength=k)
    for c in torch.nonzero(counts).flatten().tolist():
        members = torch.nonzero(cats == c).flatten()
        members = members[conf[members].argsort(descending=True, stable=True)][:GRID_IMAGES]
        atomic_write_bytes(grids / f"category_{c}.png", image_grid_png(result.images[members], GRID_COLUMNS))
    summary = {"images": len(result.names), "categories": k, "counts": counts.tolist(),
               "grids": str(grids), "unreadable": [f for f, _ in result.unreadable], **result.metrics}
    if result.unreadable:
        atomic_write_text(out_csv.with_name(f"{out_csv.stem}.unreadable.txt"),
                          "".join(f"{f}\t{reason}\n" for f, reason in result.unreadable))
    atomic_write_text(out_csv.with_suffix(".json"), json.dumps(summary, indent=2) + "\n")
    return summary


def cluster_run(run_dir, out_csv, data_root: str | None = None, split: str = "test", use_ema: bool = True,
                device: str = "cpu") -> tuple[ClusterResult, dict]:
    """`condgan cluster`: load the run, cluster, write the outputs."""
    trained = load_generator(run_dir, use_ema=use_ema, device=device, standing_stats=0)
    result = cluster_images(trained, data_root, split)
    return result, write_cluster_outputs(result, out_csv, data_root is not None)
