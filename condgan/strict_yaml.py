"""YAML for config files: PyYAML's safe loader, but a key given twice in one mapping is an error.

YAML says mapping keys are unique, yet PyYAML silently keeps the last value: a config with two
`train:` sections trains with the second one and ignores the first, which looks like a setting
that does not take effect. `safe_load` raises `DuplicateKeyError` (a yaml.YAMLError, so callers'
"invalid YAML" handling applies) naming the key and both lines.
"""

from __future__ import annotations

import yaml


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key, line: int, first_line: int):
        super().__init__(f"key '{key}' appears twice in one mapping (line {first_line} and line {line}); "
                         "YAML would keep only the last one: merge them")


class _StrictSafeLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` then `key: value` overrides the merged key, as YAML intends
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, key_node.start_mark.line + 1, seen[key])
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: the base class reports it
                    continue
        return super().construct_mapping(node, deep)


def safe_load(text: str):
    """yaml.safe_load, refusing duplicate mapping keys."""
    return yaml.load(text, Loader=_StrictSafeLoader)
