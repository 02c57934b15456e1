"""Reading back an eval.json (`condgan evaluate`'s output) for reports, with one clear error for
a file that is not one: truncated, not JSON (e.g. a YAML file), or JSON of another shape."""

from __future__ import annotations

import json
from pathlib import Path

from condgan.errors import CondganError

REQUIRED = {"metrics": dict, "num_samples": int}


def read_eval_json(path, what: str = "") -> dict:
    """The eval.json at `path` as a dict; CondganError naming the file when it is not one.
    `what` names the option it came from (e.g. "--baseline")."""
    where = f"{what} '{path}'" if what else f"'{path}'"
    fix = "re-create it with `condgan evaluate` (it writes eval.json files atomically)"
    try:
        text = Path(path).read_bytes().decode("utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        raise CondganError(f"{where} does not exist; write it with `condgan evaluate --baseline --data NAME "
                           "--out FILE.json`") from None
    except UnicodeDecodeError:
        raise CondganError(f"{where} is not a text file, so not an eval.json; {fix}") from None
    except ValueError as e:
        raise CondganError(f"{where} is not valid JSON ({str(e).splitlines()[0]}): it is truncated or "
                           f"not an eval.json; {fix}") from None
    if not isinstance(data, dict):
        raise CondganError(f"{where} holds a JSON {type(data).__name__}, not the object `condgan evaluate` "
                           f"writes; {fix}")
    for key, kind in REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise CondganError(f"{where} has no '{key}' ({kind.__name__}): not an eval.json of `condgan "
                               f"evaluate`; {fix}")
    return data
