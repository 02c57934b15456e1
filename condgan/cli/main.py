"""`condgan` command line: one sub-command per module in condgan/cli/ (each exposes
`register(subparsers)`). Errors print one line and exit non-zero; `--debug` shows tracebacks.

Operating-system errors (disk full, permission denied, a path that is not a directory) are user
errors too: the message names the file. Writes through `condgan.io` already say "cannot write
PATH"; any other OSError is reported with its file name here, as a last resort."""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # first thing: the stage times of `condgan.stages` count from here

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402

from condgan.errors import CondganError  # noqa: E402

COMMAND_MODULES = ("presets", "train", "sample", "evaluate", "cluster", "report", "classifier")


def elapsed() -> float:
    """Seconds since this command-line process started (its `main` module was imported)."""
    return time.perf_counter() - STARTED


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
        from condgan.training.distributed import DistributedError, is_secondary_rank

        if not (isinstance(e, DistributedError) and is_secondary_rank()):  # every rank has it: rank 0 says it
            _error(str(e))
        return 2
    except OSError as e:
        if debug:
            raise
        where = f"'{e.filename}': " if e.filename else ""
        _error(f"{where}{e.strerror or e}")
        return 2
    except KeyboardInterrupt:
        print("condgan: interrupted (the last checkpoint is kept; re-run to resume)", file=sys.stderr)
        return 130


def _error(message: str) -> None:
    print(f"condgan: error: {' '.join(message.splitlines())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
