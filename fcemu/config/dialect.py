"""The YAML dialect of deployment files: js-yaml 4, the parser Serverless Devs uses.

PyYAML (YAML 1.1) and js-yaml 4 (YAML 1.2 core schema) read some files differently;
:mod:`fcemu.config.marked` reads every file through this module so that an ``s.yaml``
means what ``s deploy`` makes of it (docs/fidelity.md lists the differences):

- **Tabs as separation.** js-yaml accepts a tab wherever YAML allows separating
  whitespace: at the end of a line, on a blank line, before a comment, after ``:``,
  ``-``, ``?`` and ``,``, inside flow collections. PyYAML stops at any tab outside a
  quoted scalar. :func:`untab` rewrites those tabs as spaces, one for one, so every line
  and column stays where it was; a tab inside a plain scalar (``a: b<TAB>c``) becomes
  :data:`TAB_MARK`, which the loader turns back into a tab. Tabs in indentation stay: both
  parsers refuse them. Quoted scalars and block scalar (``|``, ``>``) content are kept.
- **Plain scalars.** js-yaml's default schema resolves plain scalars by YAML 1.2 core
  rules: ``yes``/``no``/``on``/``off`` are strings (a key ``on:`` stays ``on``), ``010``
  is 10, ``1_000`` and ``1:30`` are strings, ``=`` is a string.
  :data:`CORE_RESOLVERS` and :func:`construct_int` implement these.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CORE_RESOLVERS", "TAB_MARK", "construct_int", "restore_tabs", "untab"]

#: Stands for a tab inside a plain scalar while PyYAML parses (a Unicode noncharacter).
TAB_MARK = "\ufdd0"

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|[-+]?0b[01]+|[-+]?0o[0-7]+|[-+]?0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
                    r"|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_TAG = "tag:yaml.org,2002:"


def _resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    table: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in (
            ("bool", _BOOL, "tTfF"), ("null", _NULL, "~nN"), ("int", _INT, "-+0123456789"),
            ("float", _FLOAT, "-+0123456789."), ("merge", re.compile(r"^<<$"), "<")):
        for char in first:
            table.setdefault(char, []).append((_TAG + tag, pattern))
    table.setdefault(None, []).append((_TAG + "null", _NULL))  # the empty scalar
    return table


#: ``yaml_implicit_resolvers`` for a PyYAML loader: js-yaml 4's default schema (without
#: timestamps: fcemu keeps dates as the strings FC fields are).
CORE_RESOLVERS = _resolvers()


def construct_int(text: str) -> int:
    """A YAML 1.2 core integer (``010`` is ten, ``0o10`` eight, ``0x1F``, ``0b11``)."""
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    bases = {"0b": 2, "0o": 8, "0x": 16}
    base = bases.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


_BLOCK_HEADER = re.compile(r"(?:^|[\s:])[|>][0-9+-]{0,2}[ \t]*(?:#.*)?$")
_INDICATORS = ":-?,[{"


def untab(text: str) -> str:
    """``text`` with the tabs js-yaml reads as separation replaced by spaces (same length,
    same lines); see the module docstring."""
    lines = text.split("\n")
    block_indent: int | None = None  # inside a block scalar: content is indented deeper
    quote: str | None = None  # inside a quoted scalar that spans lines
    for number, line in enumerate(lines):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent is not None and quote is None:
            if not line.strip(" \t\r") or indent > block_indent:
                continue
            block_indent = None
        lines[number], quote = _untab_line(line, quote)
        if quote is None and "\t" not in line[:indent + 1]:
            header = _BLOCK_HEADER.search(_without_comment(lines[number]).rstrip(" \r"))
            if header:
                block_indent = _parent_indent(lines[number])
    return "\n".join(lines)


def _without_comment(line: str) -> str:
    match = re.search(r"(?:^|\s)#", line)
    return line[:match.start()] if match else line


def _parent_indent(line: str) -> int:
    """The column a block scalar's content must be deeper than: its key's, or for
    ``- |`` its dash's."""
    match = re.match(r"^([ ]*)((?:-[ ]+)*)", line)
    assert match is not None
    rest = line[match.end():]
    if match[2] and rest[:1] in ("|", ">"):
        return len(match[1]) + match[2].rstrip().rfind("-")
    return match.end()


def _untab_line(line: str, quote: str | None) -> tuple[str, str | None]:
    chars = list(line)
    i, end = 0, len(chars)
    if quote is not None:
        i = _close_quote(chars, 0, quote)
        if i < 0:
            return line, quote
    elif line.strip(" \t\r") == "" or line.lstrip(" \t").startswith("#"):
        return line.replace("\t", " ") if "\t" in line else line, None  # blank or comment
    else:
        i = len(line) - len(line.lstrip(" "))
        if line[i:i + 1] == "\t":
            return line, None  # a tab in the indentation: both parsers refuse it
    while i < end:
        char = chars[i]
        if char == "#" and (i == 0 or chars[i - 1] in " \t"):
            break  # a comment: the rest of the line is text
        if char in "'\"" and (i == 0 or chars[i - 1] in " \t" + _INDICATORS):
            close = _close_quote(chars, i + 1, char)
            if close < 0:
                return "".join(chars), char
            i = close
            continue
        if char in " \t":
            j = i
            while j < end and chars[j] in " \t":
                j += 1
            if "\t" in chars[i:j]:
                after = chars[j] if j < end else ""
                separation = (after in ("", "\r", "#", ",", "]", "}")
                              or (i > 0 and chars[i - 1] in _INDICATORS)
                              or (after == ":" and (j + 1 >= end or chars[j + 1] in " \t\r")))
                for k in range(i, j):
                    if chars[k] == "\t":
                        chars[k] = " " if separation else TAB_MARK
            i = j
            continue
        i += 1
    return "".join(chars), None


def _close_quote(chars: list[str], start: int, quote: str) -> int:
    """Index after the quote closing a scalar opened before ``start``, or -1 (not on this
    line)."""
    i = start
    while i < len(chars):
        if quote == '"' and chars[i] == "\\":
            i += 2
            continue
        if chars[i] == quote:
            if quote == "'" and i + 1 < len(chars) and chars[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return -1


def restore_tabs(value: Any) -> Any:
    """A scalar's text with :data:`TAB_MARK` turned back into tabs."""
    return value.replace(TAB_MARK, "\t") if isinstance(value, str) else value
