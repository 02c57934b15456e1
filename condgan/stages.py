"""Wall time of the commands that made a run directory: `RUN/stages.json`.

`condgan train`, `condgan evaluate RUN` and `condgan report` each append one record
{"seconds", "finished", ...details} under their stage name when they finish; `condgan report`
shows them, so a user sees where the time of, e.g., the quickstart went. Recording is best
effort: an unwritable run directory (someone else's run) does not fail the command. The seconds count from
the start of the command-line process's `main` module (Python's own start-up, ~0.1 s, is not
counted; importing torch is). Written atomically; a damaged file is started afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from condgan.io import atomic_write_text

STAGES_FILE = "stages.json"
STAGE_ORDER = ("train", "evaluate", "report")


def read_stages(run_dir: str | Path) -> dict[str, list[dict]]:
    """{stage: [records, oldest first]}; empty when the file is missing or unreadable."""
    path = Path(run_dir) / STAGES_FILE
    try:
        stages = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stages if isinstance(stages, dict) else {}


def record_stage(run_dir: str | Path, stage: str, seconds: float, **details) -> None:
    """Append a record of `stage` (one finished command) to RUN/stages.json."""
    stages = read_stages(run_dir)
    record = {"seconds": round(float(seconds), 2),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **details}
    stages.setdefault(stage, []).append(record)
    try:
        atomic_write_text(Path(run_dir) / STAGES_FILE, json.dumps(stages, indent=2, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only run directory (someone else's run): the command itself succeeded


def stage_summary(stages: dict[str, list[dict]]) -> list[tuple[str, float, str]]:
    """(stage, seconds, note) per recorded stage, in STAGE_ORDER then the rest: training sums
    its invocations (a resumed run trained in several), the others report their latest."""
    rows = []
    for stage in sorted(stages, key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER), s)):
        records = stages[stage]
        if not records:
            continue
        if stage == "train":
            note = f"{records[-1].get('step', '?')} steps"
            if len(records) > 1:
                note += f", {len(records)} invocations (resumed)"
            rows.append((stage, sum(r["seconds"] for r in records), note))
        else:
            rows.append((stage, records[-1]["seconds"], records[-1].get("note", "")))
    return rows
