"""Splitting a QMP byte stream into JSON messages (QMP spec section 2: "The server
reads JSON objects from the stream"; no delimiter is required between them).

The splitter tracks nesting and strings only as far as needed to find where a
top-level value ends, then hands that text to :func:`json.loads`.  A message may not
exceed ``max_size`` bytes: a client that sends an endless object gets one error and
the splitter resynchronises at the next newline at nesting depth zero, so the
connection (and the machine) stays usable, as QEMU's JSON streamer does after a lexer
error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 1 << 20          # bytes in one QMP message
MAX_DEPTH = 1024               # QEMU's json-streamer nesting limit


@dataclass
class ParseError:
    """A message that could not be parsed; desc is the text after 'JSON parse error, '."""

    desc: str


class JsonStream:
    """feed(bytes) -> list of parsed values or ParseError, in stream order."""

    def __init__(self, max_size: int = MAX_MESSAGE) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scanned = 0          # bytes of _buf already scanned
        self._discarding = False   # after an oversized message: skip to the next newline

    def feed(self, data: bytes) -> list[Any]:
        out: list[Any] = []
        for b in data:
            self._byte(b, out)
        # A bare word at depth 0 ends at whitespace; one still open when the chunk ends
        # waits for more input.
        return out

    def _byte(self, b: int, out: list[Any]) -> None:
        if self._discarding:
            if b == 0x0A:
                self._discarding = False
            return
        buf = self._buf
        if not buf and b in b" \t\r\n":
            return                  # whitespace between messages
        buf.append(b)
        if len(buf) > self.max_size:
            self._reset()
            self._discarding = b != 0x0A
            out.append(ParseError(f"message exceeds the limit of {self.max_size} bytes"))
            return
        if self._in_string:
            if self._escape:
                self._escape = False
            elif b == 0x5C:          # backslash
                self._escape = True
            elif b == 0x22:
                self._in_string = False
                if self._depth == 0:
                    self._emit(out)
            return
        if b == 0x22:
            self._in_string = True
        elif b in b"{[":
            self._depth += 1
            if self._depth > MAX_DEPTH:
                self._reset()
                self._discarding = True
                out.append(ParseError("nesting too deep"))
        elif b in b"}]":
            self._depth -= 1
            if self._depth <= 0:
                self._emit(out)
        elif self._depth == 0 and b in b" \t\r\n":
            self._emit(out)         # a bare word (number, keyword, garbage) ended

    def _emit(self, out: list[Any]) -> None:
        text = bytes(self._buf)
        self._reset()
        try:
            out.append(json.loads(text.decode("utf-8")))
        except UnicodeDecodeError:
            out.append(ParseError("invalid UTF-8 sequence in string"))
        except ValueError:
            word = text.strip()
            if word and word[:1] not in b"{[\"":
                out.append(ParseError(f"invalid keyword '{word.decode('utf-8', 'replace')}'"))
            else:
                out.append(ParseError("expecting value"))

    def _reset(self) -> None:
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
