"""Where a config comes from: the YAML presets shipped in `condgan/presets/` and users' YAML
files, read into plain dicts (`condgan.config` turns them into a typed `Config`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from condgan import strict_yaml
from condgan.errors import CondganError
from condgan.registry import suggest


def _preset_dir():
    return resources.files("condgan") / "presets"


def _preset_names() -> list[str]:
    return sorted(entry.name[:-5] for entry in _preset_dir().iterdir() if entry.name.endswith(".yaml"))


def list_presets() -> dict[str, str]:
    """Preset name → one-line description."""
    out = {}
    for entry in sorted(_preset_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            try:
                data = yaml.safe_load(entry.read_text()) or {}
            except yaml.YAMLError as e:
                raise CondganError(f"preset {entry.name[:-5]}: invalid YAML: {str(e).splitlines()[0]}") from None
            if not isinstance(data, dict):
                raise CondganError(f"preset {entry.name[:-5]}: top level must be a mapping of config keys")
            out[entry.name[:-5]] = str(data.get("description", "")).strip().splitlines()[0] if data.get("description") else ""
    return out


def read_config_source(source: str) -> dict:
    """A preset name or a YAML file path → raw dict."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise CondganError(f"config file '{source}' does not exist")
        text = path.read_text()
        where = str(path)
    else:
        entry = _preset_dir() / f"{source}.yaml"
        if not entry.is_file():
            raise CondganError(
                f"'{source}' is neither a YAML file nor a preset{suggest(source, _preset_names())}; "
                "see `condgan presets`"
            )
        text = entry.read_text()
        where = f"preset {source}"
    try:
        data = strict_yaml.safe_load(text)  # a key given twice is an error, not "last one wins"
    except yaml.YAMLError as e:
        raise CondganError(f"{where}: invalid YAML: {str(e).splitlines()[0]}") from None
    if data is None:  # an empty file (or only comments) would silently train the defaults
        raise CondganError(f"config file '{source}' is empty; add config keys, or start from a preset "
                           "(see `condgan presets`)")
    if not isinstance(data, dict):
        raise CondganError(f"{where}: top level must be a mapping of config keys")
    return data
