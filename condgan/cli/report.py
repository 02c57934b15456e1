"""`condgan report RUN_DIR... [--out FILE.md]`: one Markdown table + plots across runs."""


def run(args) -> int:
    from condgan.evaluation.report import write_report

    out = args.out or f"{args.run_dirs[0]}/report.md"
    path = write_report(args.run_dirs, out, args.title)
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="Markdown report (metrics table, loss and metric plots) across runs")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=None, help="Markdown file (default FIRST_RUN/report.md)")
    p.add_argument("--title", default="condgan report")
    p.set_defaults(func=run)
