"""`condgan evaluate` — score a generator with the evaluation suite (docs/evaluation.md):

    condgan evaluate RUN_DIR [options]                              a trained run's generator
    condgan evaluate --fakes PATH --data NAME [--set data.K=V]...   any generator's images
    condgan evaluate --baseline --data NAME [--set data.K=V]...     held-out real data (what a
                                                                    perfect generator scores)

options: [--num-samples N] [--metrics LIST] [--extractor domain|inception] [--out FILE.json] ...
"""

import argparse
import json
import os
from pathlib import Path

from condgan.arguments import check_seed
from condgan.device import resolve_device
from condgan.errors import CondganError
from condgan.training.checkpoint import atomic_write_text


def format_table(result: dict) -> str:
    rows = [(k, v) for k, v in result["metrics"].items() if "/" not in k]
    width = max((len(k) for k, _ in rows), default=10)
    real = (result.get("real_data_row") or {}).get("metrics")
    if real is None:
        lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ----------"]
        lines += [f"{k:<{width}}  {v:.4f}" for k, v in rows]
    else:  # the real-data row beside: what a perfect generator scores the same way
        lines = [f"{'metric':<{width}}  {'value':>10}  {'real data':>10}", f"{'-' * width}  {'-' * 10}  {'-' * 10}"]
        lines += [f"{k:<{width}}  {v:>10.4f}  " + (f"{real[k]:>10.4f}" if k in real else f"{'-':>10}") for k, v in rows]
    acc = result.get("extractor_test_accuracy")
    if result["generator"] in ("ema", "raw"):
        source = f"step {result['step']}, {result['generator']} generator"
        seeds = f"eval seed {result['eval_seed']}, train seed {result['train_seed']}"
    else:
        source = f"{result['generator']} images from {result['run']}"
        seeds = f"eval seed {result['eval_seed']}"
    lines.append(f"({source}, n={result['num_samples']}, {seeds}, extractor {result['extractor']}"
                 + (f", its test accuracy {acc:.4f}" if acc is not None else "") + ")")
    lines += [f"note: {n}" for n in result.get("notes", [])]
    baseline = result.get("real_data_row") or {}
    if "error" in baseline:
        lines.append(f"note: no real-data row: {baseline['error']}")
    elif baseline:
        lines.append(f"real data: {baseline['notes'][0] if baseline.get('notes') else 'held-out real images'}"
                     + (" (cached)" if baseline.get("cached") else ""))
    return "\n".join(lines)


def _default_out(args) -> str:
    if args.run_dir:
        return os.path.join(args.run_dir, "eval.json")
    if args.fakes:  # next to the fakes, never inside the folder (it would be listed as a fake)
        p = Path(args.fakes.rstrip("/\\"))
        return str(p.with_name(p.name + ".eval.json"))  # DIR.eval.json, X.npz.eval.json
    return f"{args.data}-baseline.eval.json"


def check_args(args) -> None:
    """One clear error for every inconsistent combination (exit 2 via the CLI)."""
    sources = [name for name, given in (("RUN_DIR", args.run_dir), ("--fakes", args.fakes),
                                        ("--baseline", args.baseline)) if given]
    if len(sources) != 1:
        raise CondganError("evaluate takes exactly one of RUN_DIR, --fakes PATH or --baseline"
                           + (f" (got {' and '.join(sources)})" if sources else ""))
    if args.num_samples is not None and args.num_samples < 1:
        raise CondganError(f"--num-samples must be a positive integer, got {args.num_samples}")
    if args.standing_stats is not None and args.standing_stats < 0:
        raise CondganError(f"--standing-stats must be ≥ 0 (batches; 0 keeps the EMA generator's BN statistics), "
                           f"got {args.standing_stats}")
    check_seed(args.seed, "--seed")
    resolve_device(args.device)
    if args.run_dir and (args.data or args.overrides):
        raise CondganError("--data / --set apply to --fakes and --baseline; a run directory has its own data options")
    for assignment in args.overrides:
        if not assignment.split("=", 1)[0].strip().startswith("data."):
            raise CondganError(f"--set '{assignment}': evaluate takes only data.* keys (e.g. data.image_size=32)")
    if not args.run_dir and not args.data:
        raise CondganError(f"{sources[0]} needs --data NAME: the data set to score against (e.g. --data mnist5k)")
    if args.fakes and not Path(args.fakes).expanduser().exists():
        raise CondganError(f"--fakes '{args.fakes}' does not exist; pass a folder of images or an .npz file")


def _run_data_config(run_dir):
    from condgan.config import config_from_dict
    from condgan.training.checkpoint import RunDir

    return config_from_dict(RunDir(run_dir).read_config_dict()).data


def run(args) -> int:
    from condgan.cli.main import elapsed
    from condgan.evaluation import evaluate_baseline, evaluate_fakes, evaluate_run

    check_args(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    options = {"weights_path": args.inception_weights} if args.inception_weights else None
    common = dict(metrics=metrics, extractor=args.extractor, seed=args.seed, device=args.device,
                  extractor_options=options, real_split=args.real_split)
    if args.run_dir:
        result = evaluate_run(args.run_dir, args.num_samples or 5000, use_ema=args.ema,
                              checkpoint=args.checkpoint, standing_stats=args.standing_stats,
                              category_prior=args.category_prior, **common)
        if args.baseline_row:
            from condgan.evaluation.baseline import baseline_row

            result["real_data_row"] = baseline_row(_run_data_config(args.run_dir), result, metrics, args.extractor,
                                              args.device, extractor_options=options)
    else:
        from condgan.cli.classifier import data_config_from_args
        from condgan.data import validate_data_config

        data_cfg = data_config_from_args(args.data, args.overrides)
        validate_data_config(data_cfg)
        if args.fakes:
            result = evaluate_fakes(args.fakes, data_cfg, args.num_samples, **common)
        else:
            result = evaluate_baseline(data_cfg, args.num_samples or 5000, **common)
    out = args.out or _default_out(args)
    atomic_write_text(out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(format_table(result))
    print(f"wrote {out}")
    if args.run_dir and os.path.abspath(out) == os.path.abspath(_default_out(args)):
        from condgan.stages import record_stage

        record_stage(args.run_dir, "evaluate", elapsed(), num_samples=result["num_samples"],
                     note=f"{result['num_samples']} fakes" + (", real-data row" if args.baseline_row else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="compute metrics of a run's generator, of external fakes, or of real data")
    p.add_argument("run_dir", nargs="?", default=None, help="run directory (or use --fakes / --baseline)")
    p.add_argument("--fakes", default=None, metavar="PATH",
                   help="score these images instead of a run: a folder (class sub-folders named by class "
                        "index or name, or flat = unlabeled) or an .npz with 'images' and optional 'labels'")
    p.add_argument("--baseline", action="store_true",
                   help="score held-out real data (the other split, class-balanced) against the reference")
    p.add_argument("--baseline-row", action=argparse.BooleanOptionalAction, default=True,
                   help="RUN_DIR: also score held-out real data the same way (cached across runs) and add "
                        "it to the JSON as 'real_data_row', the real-data row of `condgan report`")
    p.add_argument("--data", default=None, metavar="NAME", help="data set of --fakes / --baseline, e.g. mnist5k")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.KEY=VALUE",
                   help="data option for --fakes / --baseline (repeatable), e.g. --set data.image_size=32")
    p.add_argument("--num-samples", type=int, default=None,
                   help="fakes to score (default 5000; --fakes: every image)")
    p.add_argument("--metrics", default=None, help="comma-separated metric names (default: all that apply)")
    p.add_argument("--extractor", default="domain",
                   help="domain (default: the shipped classifier of an embedded data set, else one trained "
                        "and cached), domain-trained (always the trained-and-cached one) or inception")
    p.add_argument("--inception-weights", default=None, help="path of pt_inception-2015-12-05-6726825d.pth")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (latents, subsets)")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--checkpoint", choices=["last", "best"], default="last")
    p.add_argument("--real-split", choices=["auto", "test", "train"], default="auto",
                   help="real reference (default auto: test when it holds >= 10,000 images, else train)")
    p.add_argument("--standing-stats", type=int, default=None, metavar="N",
                   help="re-estimate the EMA generator's BN statistics over N batches (default: the run's train.standing_stats)")
    p.add_argument("--category-prior", choices=["learned", "uniform"], default="learned",
                   help="self-labeling runs: draw the fakes' categories from the prior the run learned "
                        "(default; CGPGAN's P(C)) or request every category equally often")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None,
                   help="JSON file (default RUN_DIR/eval.json, PATH.eval.json next to --fakes PATH, "
                        "NAME-baseline.eval.json for --baseline)")
    p.set_defaults(func=run)
