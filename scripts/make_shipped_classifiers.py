"""Make the pinned domain classifiers that condgan ships for its embedded data sets.

    .venv/bin/python scripts/make_shipped_classifiers.py                  # all four, writes the files
    .venv/bin/python scripts/make_shipped_classifiers.py --only digits    # one (the others' entries stay)
    .venv/bin/python scripts/make_shipped_classifiers.py --check          # retrain, compare, write nothing

Each classifier is trained with the default recipe of condgan.features.domain (seed 0, one CPU
thread: deterministic on a given CPU and torch build) on the train split of the data set's
default options (digits at its native 8 px), stored with rank >= 2 tensors in float16, and
scored on the test split *as stored*. The script writes condgan/features/domain/weights/
NAME.safetensors and manifest.json: per data set the file, its SHA-256, the data options, the
recipe, the test accuracy, plus the torch version and this command. Fashion-MNIST needs its IDX
files (Debian package dataset-fashion-mnist, or --set data.root via $CONDGAN_DATA).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shlex
import sys
from pathlib import Path

import torch
from safetensors.torch import save

from condgan.config import DataConfig
from condgan.data import load_dataset
from condgan.features.domain.cache import train_domain_classifier
from condgan.features.domain.fit import split_accuracy
from condgan.features.domain.net import DomainClassifier
from condgan.features.domain.shipped import MANIFEST_FORMAT, STORED_DTYPE, WEIGHTS_DIR, storable_state
from condgan.io import atomic_write_bytes, atomic_write_text

# The data options each shipped classifier covers: every option at its default except these.
DATASETS = {
    "mnist5k": DataConfig(name="mnist5k", image_size=28),
    "fashion-mnist": DataConfig(name="fashion-mnist", image_size=28),
    "digits": DataConfig(name="digits", image_size=8),
    "mnist5k-pairs": DataConfig(name="mnist5k-pairs", image_size=28),
}
SEED = 0
THREADS = 1


def make(name: str, log) -> tuple[bytes, dict]:
    """(safetensors bytes, manifest entry without file/sha256) of one data set's classifier."""
    cfg = DATASETS[name]
    model, info = train_domain_classifier(cfg, seed=SEED, threads=THREADS, log=log)
    blob = save(storable_state(model))
    stored = DomainClassifier.from_info(info)
    stored.load_state_dict({k: v.float() if v.is_floating_point() else v
                            for k, v in storable_state(model).items()}, strict=True)
    test = load_dataset(cfg, "test")
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        info["test_accuracy_float32"] = info.pop("test_accuracy")
        info["test_accuracy"] = split_accuracy(stored.eval(), test)
    finally:
        torch.set_num_threads(previous)
    info["storage"] = f"tensors of rank >= 2 in {str(STORED_DTYPE).replace('torch.', '')}, the rest float32/int64"
    info["threads"] = THREADS
    info.pop("train_seconds")  # a property of the machine's load, not of the classifier
    return blob, info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=sorted(DATASETS), help="data set(s) to make (default: all)")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help=f"folder (default {WEIGHTS_DIR})")
    p.add_argument("--check", action="store_true", help="retrain and compare with the shipped files; write nothing")
    args = p.parse_args(argv)
    names = args.only or list(DATASETS)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"classifiers": {}}
    command = "python scripts/make_shipped_classifiers.py" + "".join(f" --only {n}" for n in args.only or ())
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    differ = 0
    for name in names:
        blob, info = make(name, log)
        digest = hashlib.sha256(blob).hexdigest()
        line = (f"{name}: test accuracy {info['test_accuracy']:.4f} as stored "
                f"({info['test_accuracy_float32']:.4f} in float32) on {info['test_size']} images, "
                f"{len(blob)} bytes, SHA-256 {digest}")
        if args.check:
            shipped = manifest["classifiers"].get(name, {}).get("sha256")
            same = shipped == digest
            differ += not same
            print(f"{line}: {'identical to' if same else 'DIFFERS from'} the shipped file ({shipped})")
            continue
        atomic_write_bytes(args.out / f"{name}.safetensors", blob)
        manifest["classifiers"][name] = {"file": f"{name}.safetensors", "sha256": digest, **info,
                                         "command": command}
        print(line)
    if not args.check:
        manifest.update(format=MANIFEST_FORMAT, torch=torch.__version__, python=platform.python_version(),
                        machine=platform.machine(), command=shlex.join(["python", *sys.argv]) if argv is None else command)
        manifest["classifiers"] = dict(sorted(manifest["classifiers"].items()))
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"wrote {manifest_path}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
