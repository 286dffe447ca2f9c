"""The search-query language of rules: AND, OR, NOT, parentheses, "phrases", prefix*, whole words.

Operators are written in capitals; two terms side by side mean AND. Matching is case-insensitive and
umlaut-aware (``ueberfaellig`` finds ``überfällig``) because both sides go through ``text.fold``.
A term matches a whole word; ``liefer*`` matches words starting with ``liefer``; ``"never arrived"``
matches those words next to each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from socialcrm.rules.text import fold, words

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|"(?P<phrase>[^"]*)(?P<close>"?)|(?P<word>[^\s()"]+))')
_OPERATORS = {"AND", "OR", "NOT"}


class QuerySyntaxError(ValueError):
    """A query cannot be parsed; the message says where."""


@dataclass(frozen=True, slots=True)
class Term:
    """One word, a prefix (``word*``) or a phrase of several words."""

    source: str
    parts: tuple[str, ...]
    prefix: bool = False

    def matches(self, text_words: Sequence[str]) -> bool:
        """True when the word, prefix or phrase occurs in ``text_words``."""
        if self.prefix:
            stem = self.parts[0]
            return any(word.startswith(stem) for word in text_words)
        size = len(self.parts)
        if size == 1:
            return self.parts[0] in text_words
        first = self.parts[0]
        if first not in text_words:  # most texts: no need to look at every position
            return False
        return any(
            text_words[i] == first and tuple(text_words[i : i + size]) == self.parts
            for i in range(len(text_words) - size + 1)
        )

    def terms(self) -> list[Term]:
        """The term itself."""
        return [self]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node

    def matches(self, text_words: Sequence[str]) -> bool:
        return not self.operand.matches(text_words)

    def terms(self) -> list[Term]:
        return self.operand.terms()


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]

    def matches(self, text_words: Sequence[str]) -> bool:
        return all(op.matches(text_words) for op in self.operands)

    def terms(self) -> list[Term]:
        return [t for op in self.operands for t in op.terms()]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]

    def matches(self, text_words: Sequence[str]) -> bool:
        return any(op.matches(text_words) for op in self.operands)

    def terms(self) -> list[Term]:
        return [t for op in self.operands for t in op.terms()]


Node = Term | Not | And | Or


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query; ``matches`` takes the folded words of a text (see ``text.words``)."""

    source: str
    root: Node

    def matches(self, text_words: Sequence[str]) -> bool:
        """True when the query matches the folded words of a text."""
        return self.root.matches(text_words)

    def matches_text(self, text: str) -> bool:
        """True when the query matches ``text``."""
        return self.root.matches(words(text))

    def found_terms(self, text_words: Sequence[str]) -> list[str]:
        """The query's terms that occur in the text (the evidence shown in explanations)."""
        seen: list[str] = []
        for term in self.root.terms():
            if term.source not in seen and term.matches(text_words):
                seen.append(term.source)
        return seen


def parse_query(source: str) -> Query:
    """Parse ``source``; raise QuerySyntaxError naming the position of the problem."""
    tokens = _tokenize(source)
    if not tokens:
        raise QuerySyntaxError("empty query")
    parser = _Parser(tokens)
    root = parser.parse_or()
    if parser.pos < len(tokens):
        kind, value, at = tokens[parser.pos]
        raise QuerySyntaxError(f"unexpected {value!r} at character {at + 1}")
    return Query(source=source, root=root)


def _tokenize(source: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None:  # pragma: no cover - the pattern accepts every non-space character
            raise QuerySyntaxError(f"cannot read character {pos + 1}")
        at = match.start() + (len(match.group(0)) - len(match.group(0).lstrip()))
        if match.group("lp"):
            tokens.append(("(", "(", at))
        elif match.group("rp"):
            tokens.append((")", ")", at))
        elif match.group("phrase") is not None:
            if not match.group("close"):
                raise QuerySyntaxError(f"unterminated quote at character {at + 1}")
            tokens.append(("phrase", match.group("phrase"), at))
        else:
            word = match.group("word")
            tokens.append(("op" if word in _OPERATORS else "word", word, at))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while (token := self._peek()) is not None and token[:2] == ("op", "OR"):
            self.pos += 1
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_not()]
        while (token := self._peek()) is not None and token[0] != ")" and token[:2] != ("op", "OR"):
            if token[:2] == ("op", "AND"):
                self.pos += 1
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_not(self) -> Node:
        token = self._peek()
        if token is not None and token[:2] == ("op", "NOT"):
            self.pos += 1
            return Not(self.parse_not())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise QuerySyntaxError("query ends where a term was expected")
        kind, value, at = token
        self.pos += 1
        if kind == "(":
            inner = self.parse_or()
            closing = self._peek()
            if closing is None or closing[0] != ")":
                raise QuerySyntaxError(f"parenthesis opened at character {at + 1} is never closed")
            self.pos += 1
            return inner
        if kind == ")":
            raise QuerySyntaxError(f"unexpected ')' at character {at + 1}")
        if kind == "op":
            raise QuerySyntaxError(f"operator {value} at character {at + 1} needs a term before and after")
        if kind == "phrase":
            parts = words(value)
            if not parts:
                raise QuerySyntaxError(f"empty phrase at character {at + 1}")
            return Term(source=f'"{value}"', parts=parts)
        prefix = value.endswith("*")
        parts = words(value.rstrip("*"))
        if not parts:
            raise QuerySyntaxError(f"{value!r} at character {at + 1} has no letters or digits")
        if prefix and len(parts) > 1:
            raise QuerySyntaxError(f"{value!r} at character {at + 1}: '*' works on a single word")
        return Term(source=value, parts=parts, prefix=prefix)


__all__ = ["Query", "QuerySyntaxError", "Term", "fold", "parse_query"]
