"""`condgan` command line: one sub-command per module in condgan/cli/ (each exposes
`register(subparsers)`). Errors print one line and exit non-zero; `--debug` shows tracebacks."""

from __future__ import annotations

import argparse
import importlib
import sys

from condgan.errors import CondganError

COMMAND_MODULES = ("presets", "train", "sample", "evaluate", "report", "classifier")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="condgan", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"condgan.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"condgan.cli.{name}":
                continue  # command not built in this version
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        result = args.func(args)
        return int(result or 0)
    except CondganError as e:
        if debug:
            raise
        print(f"condgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("condgan: interrupted (the last checkpoint is kept; re-run to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
