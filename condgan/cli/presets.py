"""`condgan presets`: list the shipped presets."""

from condgan.config import list_presets


def run(args) -> int:
    presets = list_presets()
    width = max(map(len, presets), default=0)
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("presets", help="list preset configs")
    p.set_defaults(func=run)
