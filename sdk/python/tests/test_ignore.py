"""The gitignore matcher against a table of cases from `man gitignore`."""

from __future__ import annotations

import pytest

from agentfense.ignore import IgnoreMatcher, parse_lines, parse_rule

# (patterns, path, is_dir, ignored)
CASES = [
    (["*.log"], "a.log", False, True),
    (["*.log"], "deep/er/a.log", False, True),
    (["*.log"], "a.logx", False, False),
    (["*.log", "!keep.log"], "keep.log", False, False),
    (["*.log", "!keep.log"], "sub/keep.log", False, False),
    (["!keep.log", "*.log"], "keep.log", False, True),  # last match wins
    (["build/"], "build", True, True),
    (["build/"], "build", False, False),  # dir pattern never matches a file
    (["build/"], "a/build", True, True),
    (["/root.txt"], "root.txt", False, True),
    (["/root.txt"], "sub/root.txt", False, False),
    (["doc/frotz"], "doc/frotz", False, True),
    (["doc/frotz"], "a/doc/frotz", False, False),  # a middle slash anchors
    (["docs/*.md"], "docs/a.md", False, True),
    (["docs/*.md"], "docs/sub/a.md", False, False),  # * never crosses /
    (["**/foo"], "foo", False, True),
    (["**/foo"], "x/y/foo", False, True),
    (["**/foo/bar"], "x/foo/bar", False, True),
    (["abc/**"], "abc/x", False, True),
    (["abc/**"], "abc/x/y", False, True),
    (["abc/**"], "abc", True, False),
    (["a/**/b"], "a/b", False, True),
    (["a/**/b"], "a/x/b", False, True),
    (["a/**/b"], "a/x/y/b", False, True),
    (["a/**/b"], "ab/b", False, False),
    (["fo?"], "foo", False, True),
    (["fo?"], "fo/", False, False),
    (["[abc].txt"], "b.txt", False, True),
    (["[abc].txt"], "d.txt", False, False),
    (["[!abc].txt"], "d.txt", False, True),
    (["[!abc].txt"], "a.txt", False, False),
    (["[a-c]x"], "bx", False, True),
    (["\\#hash"], "#hash", False, True),
    (["\\!bang"], "!bang", False, True),
    (["# comment"], "# comment", False, False),
    (["trailing   "], "trailing", False, True),
    (["escaped\\ "], "escaped ", False, True),
    (["*"], "anything/at/all", False, True),
    (["node_modules"], "pkg/node_modules", True, True),
    (["a**b"], "axxb", False, True),  # ** inside a segment is a plain *
    (["a**b"], "ax/xb", False, False),
]


@pytest.mark.parametrize("patterns,path,is_dir,ignored", CASES)
def test_matching_table(patterns: list, path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreMatcher(parse_lines(patterns)).is_ignored(path, is_dir) is ignored


def test_rules_of_a_subdirectory_file_apply_relative_to_it() -> None:
    matcher = IgnoreMatcher(parse_lines(["/local.txt", "*.tmp"], base="sub"))
    assert matcher.is_ignored("sub/local.txt", False)
    assert not matcher.is_ignored("local.txt", False)
    assert not matcher.is_ignored("other/local.txt", False)
    assert matcher.is_ignored("sub/deep/x.tmp", False)
    assert not matcher.is_ignored("x.tmp", False)


def test_deeper_files_override_their_parents() -> None:
    matcher = IgnoreMatcher(parse_lines(["*.dat"])).extended(parse_lines(["!keep.dat"], "sub"))
    assert matcher.is_ignored("keep.dat", False)
    assert not matcher.is_ignored("sub/keep.dat", False)


@pytest.mark.parametrize("line", ["", "   ", "# just a comment", "/", "!"])
def test_lines_that_are_no_rule(line: str) -> None:
    assert parse_rule(line) is None
