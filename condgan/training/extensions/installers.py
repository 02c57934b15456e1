"""The installer-extension interface `Extension` and its registry `EXTENSIONS` (see the package
docstring); the step-extension interface is in base.py."""

from __future__ import annotations

from typing import Optional

from condgan.training.extensions.base import ExtensionRegistry


class Extension:
    name = "base"
    """Its registry key, set by `EXTENSIONS.register` (also the key of its state in a checkpoint)."""

    @classmethod
    def enabled(cls, cfg) -> bool:
        raise NotImplementedError

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        """Why `cfg` cannot run with this extension (checked whether it is enabled or not, so an
        option without its switch is reported too), or None."""
        return None

    @classmethod
    def install(cls, trainer) -> None:
        raise NotImplementedError


EXTENSIONS: ExtensionRegistry = ExtensionRegistry("training extension")


def non_negative(key: str, value) -> Optional[str]:
    """The reason to refuse config key `key` when its value is not ≥ 0 (NaN included), or None."""
    return None if value >= 0 else f"config key '{key}' must be ≥ 0, got {value}"


def check_extensions(cfg) -> Optional[str]:
    """The first reason any extension gives against `cfg`, or None."""
    for name in EXTENSIONS.names():
        reason = EXTENSIONS.get(name).check(cfg)
        if reason:
            return reason
    return None


def install_extensions(trainer) -> list[str]:
    """Install the extensions `trainer.cfg` enables; their names."""
    names = [name for name in EXTENSIONS.names() if EXTENSIONS.get(name).enabled(trainer.cfg)]
    for name in names:
        EXTENSIONS.get(name).install(trainer)
    return names
