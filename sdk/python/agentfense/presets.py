"""Permission presets: named rule lists.

The built-ins come from presets/presets.json at the repository root, the same file the
C++ core compiles in; the package ships a copy made at build time (setup.py). A preset
is expanded on the client: the rules sent to the server are the preset's followed by
the user's, and since later rules win ties, a user rule at the same priority as a
preset rule overrides it.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .exceptions import InvalidConfigurationError
from .types import PermissionRule, RuleLike


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    rules: List[PermissionRule]


_lock = threading.Lock()
_registry: Optional[Dict[str, Preset]] = None


def _data_file() -> Path:
    packaged = Path(__file__).parent / "_data" / "presets.json"
    if packaged.exists():
        return packaged
    # A source checkout used without building (e.g. PYTHONPATH=sdk/python): read the
    # repository's file directly rather than a stale copy.
    in_repo = Path(__file__).resolve().parents[3] / "presets" / "presets.json"
    if in_repo.exists():
        return in_repo
    raise RuntimeError("agentfense presets data missing: reinstall the package")


def _load_builtin() -> Dict[str, Preset]:
    document = json.loads(_data_file().read_text())
    table: Dict[str, Preset] = {}
    for name, entry in document["presets"].items():
        rules = [PermissionRule.from_value(rule) for rule in entry["rules"]]
        table[name] = Preset(name, entry.get("description", ""), rules)
    return table


def _presets() -> Dict[str, Preset]:
    global _registry
    with _lock:
        if _registry is None:
            _registry = _load_builtin()
        return _registry


def list_presets() -> List[str]:
    """Names of every preset (built-in and registered), sorted."""
    return sorted(_presets())


def get_preset_info(name: str) -> Preset:
    """The named preset with its description; InvalidConfigurationError if unknown."""
    table = _presets()
    if name not in table:
        raise InvalidConfigurationError(
            f"unknown preset {name!r} (known: {', '.join(sorted(table))})")
    preset = table[name]
    return Preset(preset.name, preset.description, list(preset.rules))


def get_preset(name: str) -> List[PermissionRule]:
    """A copy of the named preset's rules, in order."""
    return get_preset_info(name).rules


def extend_preset(base: str, rules: Iterable[RuleLike] = (), *,
                  additions: Iterable[RuleLike] = (),
                  overrides: Iterable[RuleLike] = ()) -> List[PermissionRule]:
    """The base preset's rules, then ``additions`` (``rules`` is the same, positionally),
    then ``overrides``.

    Additions keep their priority: placed later, they win ties with preset rules of the
    same priority and specificity, but not a preset rule of higher priority (agent-safe
    hides secrets at priority 100). Each override is raised above every other rule of
    the result (to one more than the highest priority there, unless its own is higher),
    so it decides wherever it matches: ``overrides=[{"pattern": "**/.env*",
    "permission": "read"}]`` shows the .env files agent-safe hides."""
    kept = get_preset(base) + [PermissionRule.from_value(rule)
                               for rule in itertools.chain(rules, additions)]
    raised = [PermissionRule.from_value(rule) for rule in overrides]
    top = max((rule.priority for rule in kept), default=0)
    return kept + [PermissionRule(rule.pattern, rule.permission, max(rule.priority, top + 1),
                                  rule.type) for rule in raised]


def register_preset(name: str, rules: Iterable[RuleLike], *, description: str = "",
                    overwrite: bool = False) -> Preset:
    """Make ``name`` usable as ``preset=name`` in this process. Rules are validated now,
    so a bad rule fails here naming it. Replacing an existing preset (including a
    built-in) needs ``overwrite=True``."""
    if not isinstance(name, str) or not name:
        raise InvalidConfigurationError(f"preset name must be a non-empty string, got {name!r}")
    parsed = [PermissionRule.from_value(rule) for rule in rules]
    table = _presets()
    with _lock:
        if name in table and not overwrite:
            raise InvalidConfigurationError(
                f"preset {name!r} already exists (pass overwrite=True to replace it)")
        table[name] = Preset(name, description, parsed)
        return table[name]


def resolve_rules(preset: Optional[str], permissions: Iterable[RuleLike] = ()) -> List[PermissionRule]:
    """The rule list a sandbox is created with: the preset's (if any), then the user's."""
    base = get_preset(preset) if preset else []
    return base + [PermissionRule.from_value(rule) for rule in permissions]
