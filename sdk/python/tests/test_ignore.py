"""The gitignore matcher against a table of cases from `man gitignore`, and against
what git's wildmatch does with brackets and with lines it gives up on."""

from __future__ import annotations

import random
import signal
from contextlib import contextmanager
from typing import Any, Iterator

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

# Each checked against `git check-ignore` (git 2.39): brackets as git's wildmatch reads
# them, and lines it gives up on, which match nothing (and never raise).
GIT_CASES = [
    (["[[:alpha:]]"], "q", False, True),
    (["[[:alpha:]]"], "7", False, False),
    (["[[:alpha:]]"], ":", False, False),  # not the set {[, :, a, l, p, h}
    (["x[[:digit:]]"], "x7", False, True),
    (["x[[:digit:]]"], "xa", False, False),
    (["[[:alnum:]]"], "Z", False, True),
    (["[[:upper:]]*"], "Makefile", False, True),
    (["[[:upper:]]*"], "makefile", False, False),
    (["[[:lower:]]"], "m", False, True),
    (["a[[:space:]]b"], "a b", False, True),
    (["a[[:punct:]]b"], "a-b", False, True),
    (["a[[:punct:]]b"], "a_b", False, True),
    (["a[[:punct:]]b"], "axb", False, False),
    (["*.[[:xdigit:]]"], "f.E", False, True),
    (["*.[[:xdigit:]]"], "f.g", False, False),
    (["[![:digit:]]"], "a", False, True),
    (["[![:digit:]]"], "5", False, False),
    (["[[:digit:][:upper:]]"], "Q", False, True),
    (["[[:digit:]-z]"], "-", False, True),  # no range starts at a class
    (["[[:nope:]]"], "n", False, False),  # unknown class
    (["[[:alpha:]"], "a", False, False),  # unterminated
    (["[z-a]"], "z", False, True),  # the "z" counts on its own, the range holds nothing
    (["[z-a]"], "m", False, False),
    (["[]"], "]", False, False),  # "]" first is a member: unterminated
    (["[]"], "[]", False, False),
    (["[]]"], "]", False, True),
    (["[!]"], "x", False, False),
    (["[!]]"], "x", False, True),
    (["foo["], "foo[", False, False),
    (["[a-]"], "-", False, True),
    (["[\\]]"], "]", False, True),
    (["foo\\"], "foo\\", False, False),  # a trailing backslash
    (["foo\\"], "foo", False, False),
    (["*.txt", "![z-"], "a.txt", False, True),  # a line git gives up on changes nothing
    (["x/a[+-0]b"], "x/a.b", False, True),
    (["x/a[+-0]b"], "x/a/b", False, False),  # no bracket matches "/", even a range over it
    (["x/a[!b]c"], "x/a/c", False, False),
    (["a\\/b"], "a/b", False, True),  # an escaped "/" is the separator
    (["a\\/b"], "x/a/b", False, False),
    (["a/**/**/b"], "a/b", False, True),
    (["**/a/**/b/**/c"], "x/a/y/b/z/c", False, True),
    (["**/a/**/b/**/c"], "x/a/c/b", False, False),
    (["a/*/b"], "a/x/b", False, True),
    (["a/*/b"], "a/x/y/b", False, False),
    (["a*a*a*b"], "aaab", False, True),
    (["a*a*a*b"], "aab", False, False),
]

# Lines whose regex, as first translated, backtracked exponentially (the outside
# sweep's B6: 16 stars on one 40-character name ran for minutes; git takes 0.1 s).
SLOW_BEFORE = [
    ("*a" * 16 + "*b", "a" * 40, False),
    ("*a" * 17, "a" * 40, True),
    ("*a" * 500 + "*b", "a" * 4000, False),
    ("/".join(["**", "a"] * 8) + "/b", "a/" * 60 + "c", False),
    ("/".join(["**", "a"] * 8) + "/c", "a/" * 60 + "c", True),
    ("**/" + "*x" * 12 + "*y/**/z", "/".join(["x" * 40] * 30) + "/z", False),
]


@contextmanager
def at_most(seconds: float) -> Iterator[None]:
    """Fail rather than hang: SIGALRM interrupts even the regex engine mid-match."""
    def too_slow(signum: int, frame: Any) -> None:
        raise AssertionError(f"took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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


@pytest.mark.parametrize("patterns,path,is_dir,ignored", GIT_CASES)
def test_brackets_and_lines_git_gives_up_on(patterns: list, path: str, is_dir: bool,
                                            ignored: bool) -> None:
    assert IgnoreMatcher(parse_lines(patterns)).is_ignored(path, is_dir) is ignored


@pytest.mark.parametrize("pattern,path,ignored", SLOW_BEFORE,
                         ids=["16 stars", "17 stars", "500 stars", "8 globstars",
                              "8 globstars, matching", "stars under globstars"])
def test_pathological_lines_answer_at_once(pattern: str, path: str, ignored: bool) -> None:
    with at_most(1.0):  # only a guard against hanging: it takes milliseconds
        assert IgnoreMatcher(parse_lines([pattern])).is_ignored(path, False) is ignored


def test_random_lines_neither_raise_nor_hang() -> None:
    """A repository's .gitignore is input the caller may not trust."""
    rng = random.Random(7)
    atoms = ["a", "b", "/", "*", "**", "?", "[", "]", "!", "^", "-", "\\", "[:alpha:]",
             "[:nope:]", "[:", ":]", "**/", "/**"]
    paths = ["a", "ab/ba", "a/b/a/b", "[]", "-!^", "a" * 30 + "/" + "b" * 30]
    with at_most(5.0):
        for _ in range(3000):
            line = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 12)))
            matcher = IgnoreMatcher(parse_lines([line]))
            for path in paths:
                matcher.is_ignored(path, False)
