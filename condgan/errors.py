"""The one exception type the CLI turns into a one-line message (no traceback)."""


class CondganError(Exception):
    """A user-facing error: bad config, bad data, bad run directory.

    The message must name the file / key / value at fault and say how to fix it.
    """
