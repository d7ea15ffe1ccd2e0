"""A small, tolerant reader for the protobuf text format (Caffe's ``.prototxt``).

It needs no schema and no protobuf install: messages are ``name { ... }`` (or ``name: {``,
or ``< >`` braces), scalars ``name: value`` where value is a number, a quoted string
(adjacent strings concatenate) or an enum identifier, and ``name: [v1, v2]`` lists.
``#`` starts a comment; ``,`` and ``;`` between fields are allowed. Every field remembers
its line, and every syntax error names the line it is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._layers import ParseError

Scalar = int | float | str
_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\f\v]+)|(?P<nl>\n)|(?P<comment>\#[^\n]*)
      |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      |(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?(?![\w.])
                 |[-+]?(?:inf|infinity|nan)\b)
      |(?P<ident>[A-Za-z_][\w.]*)|(?P<punct>[{}\[\]<>:,;])""",
    re.VERBOSE | re.IGNORECASE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
_CLOSE = {"{": "}", "<": ">"}


@dataclass
class Field:
    name: str
    value: Scalar | Message
    line: int


@dataclass
class Message:
    """An ordered list of fields; a repeated field appears once per occurrence."""

    fields: list[Field] = field(default_factory=list)
    line: int = 0

    def all(self, name: str) -> list[Field]:
        return [f for f in self.fields if f.name == name]

    def last(self, name: str) -> Field | None:
        found = self.all(name)
        return found[-1] if found else None


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    line: int


def _number(text: str) -> int | float:
    t = text.rstrip("fF") if not text.lower().endswith(("inf", "nan")) else text
    try:
        return int(t)
    except ValueError:
        return float(t)


def _unquote(text: str, source: str, line: int) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ParseError(source, line, f"unsupported escape \\{nxt} in string")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def tokenize(text: str, source: str = "<string>") -> list[_Tok]:
    toks: list[_Tok] = []
    line, pos = 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            what = "unterminated string" if ch in "\"'" else f"unexpected character {ch!r}"
            raise ParseError(source, line, what)
        kind = m.lastgroup or ""
        if kind == "nl":
            line += 1
        elif kind not in ("ws", "comment"):
            toks.append(_Tok(kind, m.group(), line))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, toks: list[_Tok], source: str) -> None:
        self.toks, self.source, self.i = toks, source, 0

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _error(self, tok: _Tok | None, msg: str) -> ParseError:
        line = tok.line if tok else (self.toks[-1].line if self.toks else 1)
        return ParseError(self.source, line, msg)

    def message(self, close: str | None, line: int) -> Message:
        msg = Message(line=line)
        while True:
            tok = self._peek()
            if tok is None:
                if close is None:
                    return msg
                raise self._error(tok, f"missing '{close}' for the message opened on line {line}")
            if tok.kind == "punct" and tok.text == close:
                self.i += 1
                return msg
            if tok.kind == "punct" and tok.text in ",;":
                self.i += 1
                continue
            if tok.kind == "punct" and tok.text in "}>":
                raise self._error(tok, f"unexpected {tok.text!r}: no message is open here")
            if tok.kind != "ident":
                raise self._error(tok, f"expected a field name, got {tok.text!r}")
            self.i += 1
            msg.fields.extend(self._field_values(tok))

    def _field_values(self, name: _Tok) -> list[Field]:
        tok = self._peek()
        colon = tok is not None and tok.text == ":"
        if colon:
            self.i += 1
            tok = self._peek()
        if tok is not None and tok.kind == "punct" and tok.text in _CLOSE:
            self.i += 1
            return [Field(name.text, self.message(_CLOSE[tok.text], tok.line), name.line)]
        if not colon:
            raise self._error(tok or name, f"expected ':' or '{{' after field {name.text!r}")
        if tok is not None and tok.text == "[":
            self.i += 1
            return [Field(name.text, v, name.line) for v in self._list(name)]
        return [Field(name.text, self._scalar(name), name.line)]

    def _list(self, name: _Tok) -> list[Scalar]:
        values: list[Scalar] = []
        while True:
            tok = self._peek()
            if tok is not None and tok.text == "]":
                self.i += 1
                return values
            values.append(self._scalar(name))
            tok = self._peek()
            if tok is not None and tok.text == ",":
                self.i += 1
            elif tok is None or tok.text != "]":
                raise self._error(tok, f"expected ',' or ']' in the list of {name.text!r}")

    def _scalar(self, name: _Tok) -> Scalar:
        tok = self._peek()
        if tok is None or tok.kind not in ("string", "number", "ident"):
            got = "end of file" if tok is None else repr(tok.text)
            raise self._error(tok, f"expected a value for field {name.text!r}, got {got}")
        self.i += 1
        if tok.kind == "number":
            return _number(tok.text)
        if tok.kind == "ident":
            return tok.text
        parts = [_unquote(tok.text, self.source, tok.line)]
        while (nxt := self._peek()) is not None and nxt.kind == "string":
            parts.append(_unquote(nxt.text, self.source, nxt.line))
            self.i += 1
        return "".join(parts)


def parse(text: str, source: str = "<string>") -> Message:
    """Parse protobuf text format into a :class:`Message` tree.

    >>> m = parse('layer { name: "norm1" lrn_param { local_size: 5 } }  # comment')
    >>> m.last("layer").value.last("lrn_param").value.last("local_size").value
    5
    """
    return _Parser(tokenize(text, source), source).message(None, 1)
