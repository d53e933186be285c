"""A gitignore matcher (the syntax of `man gitignore`), used by from_local for
.gitignore and .sandboxignore files and for ignore_patterns.

Semantics implemented: blank lines and `#` comments; `\\#` / `\\!` escapes and trailing
spaces (unless escaped) removed; `!` negation; a trailing `/` matches directories only;
a pattern with a `/` at the start or in the middle is anchored at its file's directory,
otherwise it matches at any depth; `*`, `?` and `[...]` never match `/`; `**/` leading,
`/**` trailing and `/**/` in the middle match any number of directories; the last
matching pattern wins, and patterns of deeper files come later than those of their
parents. As in git, a file under an excluded directory cannot be re-included: the walker
never descends into an excluded directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Pattern


@dataclass(frozen=True)
class IgnoreRule:
    source: str  # the line as written, for error messages and debugging
    base: str  # directory (relative to the upload root, "" = root) the rule is relative to
    negate: bool
    dir_only: bool
    regex: Pattern[str]

    def matches(self, path: str, is_dir: bool) -> bool:
        """``path`` is relative to the upload root, with `/` separators."""
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not path.startswith(self.base + "/"):
                return False
            path = path[len(self.base) + 1:]
        return self.regex.fullmatch(path) is not None


def _segment_regex(segment: str) -> str:
    out: List[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out.append(re.escape(segment[i + 1]))
            i += 2
            continue
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1  # "a**b": consecutive asterisks inside a segment are one "*"
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", i + 2 if segment[i + 1:i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = segment[i + 1:end]
                negated = body[:1] in ("!", "^")
                if negated:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("^", "\\^")
                out.append(f"[^/{body}]" if negated else f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _glob_regex(pattern: str) -> str:
    segments = pattern.split("/")
    if segments == ["**"]:
        return ".*"
    out = ""
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            if index == 0:
                out += "(?:.*/)?"  # "**/x": x in any directory
            elif index == last:
                out += "/.+"  # "x/**": everything inside x, not x itself
            else:
                out += "(?:/.+)?"  # "a/**/b": zero or more directories between
            continue
        if index > 0 and not (index == 1 and segments[0] == "**"):
            out += "/"
        out += _segment_regex(segment)
    return out


def _strip_trailing_spaces(line: str) -> str:
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    return line


def parse_rule(line: str, base: str = "") -> Optional[IgnoreRule]:
    """One gitignore line → a rule, or None for blanks and comments."""
    source = line
    line = _strip_trailing_spaces(line.rstrip("\r\n"))
    if not line or line.startswith("#"):
        return None
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    elif line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _glob_regex(line)
    regex = body if anchored else f"(?:.*/)?{body}"
    return IgnoreRule(source, base, negate, dir_only, re.compile(regex, re.DOTALL))


def parse_lines(lines: Iterable[str], base: str = "") -> List[IgnoreRule]:
    return [rule for rule in (parse_rule(line, base) for line in lines) if rule is not None]


class IgnoreMatcher:
    """An ordered list of rules; the last matching one decides."""

    def __init__(self, rules: Iterable[IgnoreRule] = ()) -> None:
        self.rules: List[IgnoreRule] = list(rules)

    def extended(self, rules: Iterable[IgnoreRule]) -> "IgnoreMatcher":
        """A matcher with ``rules`` added after (so overriding) the current ones."""
        return IgnoreMatcher(self.rules + list(rules))

    def is_ignored(self, path: str, is_dir: bool) -> bool:
        for rule in reversed(self.rules):
            if rule.matches(path, is_dir):
                return not rule.negate
        return False
