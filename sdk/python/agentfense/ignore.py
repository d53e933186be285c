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

Globs are read as git's wildmatch reads them: in `[...]`, `!` or `^` first negates, `]`
first is a member, `\\` escapes, `a-z` is a range and `[:alpha:]`, `[:digit:]`... are
POSIX classes (ASCII, as in git). A line git gives up on (an unterminated `[`, an
unknown class, a trailing backslash) matches nothing.

The lines come from repositories the caller may not trust, so none may raise or take
long: each becomes a regex that cannot backtrack more than polynomially. Where a `*`
(or a `**/`) is followed by a fixed piece and then another star, the piece is taken at
its earliest fit and never given back, which loses no match: a later fit only leaves
less for the rest of the pattern, and the next star can absorb the difference.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Pattern, Tuple, Union

# git's classes (ctype.c): ASCII only, whatever the locale.
_POSIX_CLASSES = {
    "alnum": string.ascii_letters + string.digits,
    "alpha": string.ascii_letters,
    "blank": " \t",
    "cntrl": "".join(map(chr, range(0x20))) + "\x7f",
    "digit": string.digits,
    "graph": "".join(map(chr, range(0x21, 0x7f))),
    "lower": string.ascii_lowercase,
    "print": "".join(map(chr, range(0x20, 0x7f))),
    "punct": string.punctuation,
    "space": " \t\n\r",
    "upper": string.ascii_uppercase,
    "xdigit": string.hexdigits,
}
_NEVER = re.compile("(?!)")


class _NeverMatches(Exception):
    """A line git's wildmatch gives up on when it reaches the fault: it matches nothing."""


@dataclass(frozen=True)
class _Stars:
    count: int  # a run of "*"; "**" as a whole directory level crosses directories


_Token = Union[str, _Stars]  # a regex matching exactly one character, or stars


@dataclass(frozen=True)
class IgnoreRule:
    source: str  # the line as written, for error messages and debugging
    base: str  # directory (relative to the upload root, "" = root) the rule is relative to
    negate: bool
    dir_only: bool
    regex: Pattern[str]
    basename_only: bool = False  # a pattern without "/" is matched against the last name

    def matches(self, path: str, is_dir: bool) -> bool:
        """``path`` is relative to the upload root, with `/` separators."""
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not path.startswith(self.base + "/"):
                return False
            path = path[len(self.base) + 1:]
        if self.basename_only:
            path = path[path.rfind("/") + 1:]
        return self.regex.fullmatch(path) is not None


def _char_at(pattern: str, index: int) -> str:
    if index >= len(pattern):
        raise _NeverMatches("the line ends inside an escape or a bracket")
    return pattern[index]


def _class_regex(members: List[Tuple[str, str]], negated: bool) -> str:
    """A bracket's members (inclusive ranges) as a regex matching one character."""
    ranges = [(low, high) for low, high in members if low <= high]  # "z-a" holds nothing
    body = "".join(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}"
                   for low, high in ranges)
    if negated:
        return f"[^/{body}]"
    if not body:
        return "(?!)"
    # No bracket matches the "/" between directories, not even a range spanning it.
    if any(low <= "/" <= high for low, high in ranges):
        return f"(?!/)[{body}]"
    return f"[{body}]"


def _posix_class(pattern: str, start: int) -> Tuple[Optional[str], int]:
    """At pattern[start:start + 2] == "[:": the members of a "[:name:]" class and the
    index of its "]", or None if it is no class ("[" is then a plain member, as in git)."""
    close = pattern.find("]", start + 2)
    if close == -1:
        raise _NeverMatches("unterminated [:class:]")
    name = pattern[start + 2:close]
    if not name.endswith(":"):
        return None, start
    members = _POSIX_CLASSES.get(name[:-1])
    if members is None:
        raise _NeverMatches(f"unknown class [:{name}]")
    return members, close


def _bracket(pattern: str, start: int) -> Tuple[str, int]:
    """The bracket expression opening at pattern[start] as a regex, and the index of its
    "]". Read like git's wildmatch: "]" first is a member; in "a-z" the "a" is a member
    and "a-z" a range, so "[z-a]" matches "z" (in git too); a "-" first, last or right
    after a range or class is a member."""
    index = start + 1
    negated = pattern[index:index + 1] in ("!", "^")
    if negated:
        index += 1
    members: List[Tuple[str, str]] = []
    previous = ""  # the last single member, where a range can start
    first = True
    while True:
        char = _char_at(pattern, index)
        if char == "]" and not first:
            return _class_regex(members, negated), index
        first = False
        if char == "\\":
            index += 1
            previous = _char_at(pattern, index)
            members.append((previous, previous))
        elif char == "-" and previous and pattern[index + 1:index + 2] not in ("", "]"):
            index += 1
            if pattern[index] == "\\":  # an escaped upper end
                index += 1
            members.append((previous, _char_at(pattern, index)))
            previous = ""
        elif char == "[" and pattern[index + 1:index + 2] == ":":
            chars, index = _posix_class(pattern, index)
            if chars is None:
                members.append(("[", "["))
                previous = "["
            else:
                members.extend((member, member) for member in chars)
                previous = ""
        else:
            members.append((char, char))
            previous = char
        index += 1


def _levels(pattern: str) -> List[List[_Token]]:
    """The pattern cut at each "/" (an escaped one too: git matches "\\/" with the "/"
    between directories, the only "/" a path has), each level a list of tokens."""
    levels: List[List[_Token]] = [[]]
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 1
            char = _char_at(pattern, index)
            if char != "/":
                levels[-1].append(re.escape(char))
                index += 1
                continue
        if char == "/":
            levels.append([])
        elif char == "*":
            end = index
            while end < len(pattern) and pattern[end] == "*":
                end += 1
            levels[-1].append(_Stars(end - index))
            index = end - 1
        elif char == "?":
            levels[-1].append("[^/]")
        elif char == "[":
            token, index = _bracket(pattern, index)
            levels[-1].append(token)
        else:
            levels[-1].append(re.escape(char))
        index += 1
    return levels


def _atomic(regex: str, names: Iterator[str]) -> str:
    """``regex`` matched once, at its first fit, and never revisited: a lookahead (which
    `re` never backtracks into) captures it and a backreference consumes it. This is an
    atomic group `(?>...)`, which `re` only has from Python 3.11."""
    name = next(names)
    return f"(?=(?P<{name}>{regex}))(?P={name})"


def _level_regex(tokens: List[_Token], names: Iterator[str]) -> str:
    """One directory level: each "*" matches a run of characters other than "/". The
    pieces between stars are held at their earliest fit; the last star needs no such
    care, the level's end leaving it one length."""
    pieces = [""]
    for token in tokens:
        if isinstance(token, _Stars):
            pieces.append("")
        else:
            pieces[-1] += token
    if len(pieces) == 1:
        return pieces[0]
    first, *middle, last = pieces
    held = "".join(_atomic(f"[^/]*?{piece}", names) for piece in middle if piece)
    return f"{first}{held}[^/]*{last}"


def _is_globstar(tokens: List[_Token]) -> bool:
    return len(tokens) == 1 and isinstance(tokens[0], _Stars) and tokens[0].count > 1


def _glob_regex(pattern: str) -> str:
    """The glob as a regex for a whole "/"-separated path (git's wildmatch with
    WM_PATHNAME); raises _NeverMatches for a line git gives up on."""
    levels = _levels(pattern)
    names = (f"g{number}" for number in itertools.count())
    last = len(levels) - 1
    out = ""
    index = 0
    while index <= last:
        if not _is_globstar(levels[index]):
            out += _level_regex(levels[index], names) + ("/" if index < last else "")
            index += 1
            continue
        if index == last:
            out += ".*"  # "x/**": everything inside x, not x itself; "**": everything
            break
        # "**/": zero or more directories. Up to another "**", what follows is taken at
        # its earliest place; up to the end, it has only one place.
        following = next((i for i in range(index + 1, last + 1) if _is_globstar(levels[i])),
                         None)
        if following is None:
            out += "(?:[^/]*/)*"
            index += 1
            continue
        between = "".join(_level_regex(level, names) + "/" for level in levels[index + 1:following])
        out += _atomic(f"(?:[^/]*/)*?{between}", names)
        index = following
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
    try:
        regex = re.compile(_glob_regex(line.lstrip("/")), re.DOTALL)
    except _NeverMatches:
        regex = _NEVER
    return IgnoreRule(source, base, negate, dir_only, regex, basename_only=not anchored)


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
