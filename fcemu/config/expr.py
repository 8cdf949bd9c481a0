"""The expressions inside ``${...}`` in Serverless Devs 3 files: parsing and evaluation.

Serverless Devs evaluates each ``${...}`` as a JavaScript expression over its "magic"
names (``@serverless-devs/art-template``'s ``devs-compile``). :func:`parse` reads the
subset real files use — string and number literals, ``true``/``false``/``null``, dotted
references (``vars.x``, ``this.props.x``, ``resources.r.props.x``, ``env.X``, ``a[0]``),
calls (``env('X', 'default')``, ``path('./code')``, ``file('./x')``, ``json(...)``,
``config('AccountID')``, ``str(...)``), ``||``, ``&&``, ``+`` and parentheses — into a small
tree; :func:`evaluate` computes it with JavaScript's meaning of those operators (``||``
keeps the first truthy operand, ``+`` joins text). Arguments are evaluated first, as in
JavaScript. What names and functions mean is the caller's (:class:`fcemu.config.syaml.Refs`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "ExprError", "Node", "evaluate", "js_text", "parse"]


class ExprError(ValueError):
    """An expression that cannot be read or computed; the message says why."""


class _Missing:
    def __repr__(self) -> str:
        return "undefined"


#: A reference to a key that is not there (JavaScript's ``undefined``).
MISSING: Any = _Missing()

#: ("lit", value) | ("ref", [name or index, ...]) | ("call", name, [Node...])
#: | ("or" | "and" | "add", Node, Node)
Node = tuple[Any, ...]

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_$][\w$-]*)
  | (?P<op>\|\||&&|[.(),\[\]+])
)""", re.VERBOSE)
_WORDS = {"true": True, "false": False, "null": None, "undefined": MISSING}


def parse(text: str) -> Node:
    """The tree of one ``${...}`` body; raises :class:`ExprError` for anything else."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExprError(f"cannot read {text[pos:].strip()!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        pos = match.end()
    parser = _Parser(tokens)
    node = parser.binary(0)
    if parser.pos != len(tokens):
        raise ExprError(f"unexpected {tokens[parser.pos][1]!r}")
    return node


class _Parser:
    _LEVELS = (("||", "or"), ("&&", "and"), ("+", "add"))

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, text: str) -> None:
        if self.peek() != text:
            raise ExprError(f"expected {text!r}" + (f", got {self.peek()!r}"
                                                     if self.peek() else " at the end"))
        self.pos += 1

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.primary()
        symbol, name = self._LEVELS[level]
        node = self.binary(level + 1)
        while self.peek() == symbol:
            self.pos += 1
            node = (name, node, self.binary(level + 1))
        return node

    def primary(self) -> Node:
        if self.pos >= len(self.tokens):
            raise ExprError("expression ends too early")
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if text == "(" and kind == "op":
            node = self.binary(0)
            self.take(")")
            return node
        if kind == "str":
            return ("lit", _unquote(text))
        if kind == "num":
            return ("lit", float(text) if "." in text else int(text))
        if kind != "name":
            raise ExprError(f"unexpected {text!r}")
        if text in _WORDS:
            return ("lit", _WORDS[text])
        if self.peek() == "(":
            self.pos += 1
            args: list[Node] = []
            while self.peek() != ")":
                args.append(self.binary(0))
                if self.peek() != ")":
                    self.take(",")
            self.take(")")
            return ("call", text, args)
        parts: list[str | int] = [text]
        while self.peek() in (".", "["):
            if self.peek() == ".":
                self.pos += 1
                kind, name = self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "")
                if kind not in ("name", "num"):
                    raise ExprError("expected a name after '.'")
                parts.append(name)
                self.pos += 1
            else:
                self.pos += 1
                index = self.primary()
                self.take("]")
                if index[0] != "lit" or not isinstance(index[1], (str, int)):
                    raise ExprError("only a literal may stand between [ and ]")
                parts.append(index[1])
        return ("ref", parts)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), body)


def evaluate(node: Node, ref: Callable[[list[str | int]], Any],
             call: Callable[[str, list[Any]], Any]) -> Any:
    """The value of ``node``; ``ref`` looks up a dotted path (:data:`MISSING` if absent),
    ``call`` runs a function on evaluated arguments."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ref":
        return ref(node[1])
    if kind == "call":
        return call(node[1], [evaluate(arg, ref, call) for arg in node[2]])
    left = evaluate(node[1], ref, call)
    if kind == "or":
        return left if _truthy(left) else evaluate(node[2], ref, call)
    if kind == "and":
        return evaluate(node[2], ref, call) if _truthy(left) else left
    right = evaluate(node[2], ref, call)
    if _number(left) and _number(right):
        return left + right
    return js_text(left) + js_text(right)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _truthy(value: Any) -> bool:
    return value is not MISSING and value is not None and value is not False \
        and value != "" and not (_number(value) and (value == 0 or value != value))


def js_text(value: Any) -> str:
    """``value`` as JavaScript's ``String()`` writes it (``true``, ``1`` for 1.0, JSON)."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
