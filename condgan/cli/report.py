"""`condgan report RUN_DIR... [--out FILE.md] [--baseline EVAL.json]...`: one Markdown table +
plots across runs; --baseline adds the row of a `condgan evaluate --baseline` (or --fakes) JSON."""

import os

from condgan.errors import CondganError


def run(args) -> int:
    from condgan.evaluation.report import write_report

    from condgan.evaluation.eval_json import read_eval_json

    out = args.out or f"{args.run_dirs[0]}/report.md"
    for path in args.baseline:
        if not os.path.isfile(path):
            raise CondganError(f"--baseline '{path}' does not exist; write it with "
                               "`condgan evaluate --baseline --data NAME --out FILE.json`")
        read_eval_json(path, "--baseline")  # checked before anything is written
    from condgan.cli.main import STARTED, elapsed
    from condgan.stages import record_stage

    path = write_report(args.run_dirs, out, args.title, args.baseline, started=STARTED)
    print(f"wrote {path}")
    record_stage(args.run_dirs[0], "report", elapsed(), note=f"{len(args.run_dirs)} run(s)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="Markdown report (metrics table, loss and metric plots) across runs")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=None, help="Markdown file (default FIRST_RUN/report.md)")
    p.add_argument("--title", default="condgan report")
    p.add_argument("--baseline", action="append", default=[], metavar="EVAL.json",
                   help="add the row of a `condgan evaluate --baseline` / `--fakes` JSON (repeatable)")
    p.set_defaults(func=run)
