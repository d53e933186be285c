"""Presets come from the repository's presets/presets.json, and user rules come after
the preset's so that they win ties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentfense
from agentfense import (InvalidConfigurationError, Permission, PermissionRule, extend_preset,
                        get_preset, get_preset_info, list_presets, register_preset)
from agentfense.presets import resolve_rules

REPO_PRESETS = Path(__file__).resolve().parents[3] / "presets" / "presets.json"


def test_the_packaged_presets_are_the_repository_file() -> None:
    document = json.loads(REPO_PRESETS.read_text())
    assert set(document["presets"]) <= set(list_presets())
    for name, entry in document["presets"].items():
        expected = [PermissionRule.from_value(rule) for rule in entry["rules"]]
        assert get_preset(name) == expected
        assert get_preset_info(name).description == entry["description"]


def test_agent_safe_hides_secrets_above_user_default_priority() -> None:
    rules = get_preset("agent-safe")
    hidden = {rule.pattern for rule in rules if rule.permission is Permission.NONE}
    assert {"**/.env*", "**/secrets/**", "**/*.key", "**/*.pem", "**/credentials*",
            "**/.git/**"} <= hidden
    # ... and what is inside directories with those names (not only the names).
    assert {"**/.env*/**", "**/*.key/**", "**/*.pem/**", "**/credentials*/**"} <= hidden
    assert all(rule.priority > 0 for rule in rules if rule.permission is Permission.NONE)


def test_get_preset_returns_a_copy() -> None:
    get_preset("read-only").append(PermissionRule("/x", "write"))
    assert len(get_preset("read-only")) == 1


def test_extend_preset_appends_user_rules_last() -> None:
    rules = extend_preset("read-only", [{"pattern": "**/*", "permission": "write"}])
    assert rules == [PermissionRule("**/*", Permission.READ), PermissionRule("**/*", Permission.WRITE)]


def test_extend_preset_additions_keep_their_priority() -> None:
    rules = extend_preset("agent-safe", additions=[{"pattern": "/data/**", "permission": "write"}])
    assert rules[:-1] == get_preset("agent-safe")
    assert rules[-1] == PermissionRule("/data/**", Permission.WRITE, priority=0)
    # The positional form is the same list.
    assert extend_preset("agent-safe", [{"pattern": "/data/**", "permission": "write"}]) == rules


def test_extend_preset_overrides_outrank_every_other_rule() -> None:
    rules = extend_preset("agent-safe", additions=[PermissionRule("/x/**", "write", priority=300)],
                          overrides=[{"pattern": "**/.env*", "permission": "read"},
                                     {"pattern": "/y", "permission": "view", "priority": 999}])
    assert rules[-2] == PermissionRule("**/.env*", Permission.READ, priority=301)
    assert rules[-1] == PermissionRule("/y", Permission.VIEW, priority=999)  # already higher
    with pytest.raises(InvalidConfigurationError, match="'maybe'"):
        extend_preset("agent-safe", overrides=[{"pattern": "/z", "permission": "maybe"}])


def test_resolve_rules_orders_preset_then_user() -> None:
    rules = resolve_rules("view-only", [PermissionRule("/docs/**", "write", priority=5)])
    assert rules[0].permission is Permission.VIEW and rules[-1].pattern == "/docs/**"
    assert resolve_rules(None, [{"pattern": "a", "permission": "read"}]) == \
        [PermissionRule("a", "read")]


@pytest.mark.parametrize("rule", [{"pattern": "**/.env", "priority": 100}, {"pattern": "a"}])
def test_a_rule_without_a_permission_is_refused(rule) -> None:
    """Attack sweep J: a rule dict without "permission" became READ, where the server and
    rules files refuse it; one written to pin /.env at 100 on top of agent-safe exposed it."""
    with pytest.raises(InvalidConfigurationError, match="missing 'permission'"):
        resolve_rules("agent-safe", [rule])
    with pytest.raises(InvalidConfigurationError, match="missing 'permission'"):
        PermissionRule(rule["pattern"])


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(InvalidConfigurationError, match="unknown preset 'nope'.*agent-safe"):
        get_preset("nope")


def test_register_preset_validates_and_refuses_silent_overwrite() -> None:
    register_preset("test-docs-writer", [{"pattern": "/docs/**", "permission": "write"}],
                    description="docs only")
    assert "test-docs-writer" in list_presets()
    assert get_preset("test-docs-writer") == [PermissionRule("/docs/**", Permission.WRITE)]
    with pytest.raises(InvalidConfigurationError, match="already exists"):
        register_preset("test-docs-writer", [])
    register_preset("test-docs-writer", [], overwrite=True)
    assert get_preset("test-docs-writer") == []
    with pytest.raises(InvalidConfigurationError, match="'sometimes'"):
        register_preset("test-bad", [{"pattern": "/x", "permission": "sometimes"}])
    assert "test-bad" not in list_presets()


def test_exported_from_the_package() -> None:
    assert agentfense.list_presets is list_presets
