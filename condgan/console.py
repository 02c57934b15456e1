"""What condgan tells the user while it works: one line per message on stderr (stdout is kept for
results), so a batch job's log says what ran and what went wrong. Every layer may use it."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    """One line of progress / information on stderr."""
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    say(f"condgan: warning: {message}")
