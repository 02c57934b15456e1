"""`condgan evaluate RUN_DIR [--num-samples N] [--metrics LIST] [--extractor domain|inception] [--out FILE.json]`."""

import argparse
import json
import os

from condgan.training.checkpoint import atomic_write_text


def format_table(result: dict) -> str:
    rows = [(k, v) for k, v in result["metrics"].items() if "/" not in k]
    width = max((len(k) for k, _ in rows), default=10)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ----------"]
    lines += [f"{k:<{width}}  {v:.4f}" for k, v in rows]
    acc = result.get("extractor_test_accuracy")
    lines.append(f"(step {result['step']}, {result['generator']} generator, n={result['num_samples']}, "
                 f"eval seed {result['eval_seed']}, train seed {result['train_seed']}, extractor {result['extractor']}"
                 + (f", its test accuracy {acc:.4f}" if acc is not None else "") + ")")
    return "\n".join(lines)


def run(args) -> int:
    from condgan.evaluation import DEFAULT_METRICS, evaluate_run

    metrics = args.metrics.split(",") if args.metrics else list(DEFAULT_METRICS)
    options = {"weights_path": args.inception_weights} if args.inception_weights else None
    result = evaluate_run(args.run_dir, args.num_samples, metrics, args.extractor, args.seed,
                          use_ema=args.ema, checkpoint=args.checkpoint, device=args.device,
                          extractor_options=options, real_split=args.real_split,
                          standing_stats=args.standing_stats)
    out = args.out or os.path.join(args.run_dir, "eval.json")
    atomic_write_text(out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(format_table(result))
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="compute metrics of a trained run's generator")
    p.add_argument("run_dir")
    p.add_argument("--num-samples", type=int, default=5000)
    p.add_argument("--metrics", default=None, help="comma-separated metric names (default: all that apply)")
    p.add_argument("--extractor", default="domain", help="domain (default) or inception")
    p.add_argument("--inception-weights", default=None, help="path of pt_inception-2015-12-05-6726825d.pth")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (latents)")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--checkpoint", choices=["last", "best"], default="last")
    p.add_argument("--real-split", choices=["test", "train"], default="test")
    p.add_argument("--standing-stats", type=int, default=None, metavar="N",
                   help="re-estimate the EMA generator's BN statistics over N batches (default: the run's train.standing_stats)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="JSON file (default RUN_DIR/eval.json)")
    p.set_defaults(func=run)
