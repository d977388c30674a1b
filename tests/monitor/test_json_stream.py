"""The QMP input splitter on its own: message boundaries, strings, limits, resync."""

from __future__ import annotations

from pyqemu.monitor.json_stream import JsonStream, ParseError


def feed_all(chunks: list[bytes], max_size: int = 1 << 20) -> list:
    s = JsonStream(max_size)
    out = []
    for c in chunks:
        out += s.feed(c)
    return out


def test_boundaries_without_delimiters() -> None:
    assert feed_all([b'{"a": 1}{"b": [2, {"c": 3}]}  \n {"d": "}{"}']) == [
        {"a": 1}, {"b": [2, {"c": 3}]}, {"d": "}{"}]


def test_split_anywhere() -> None:
    msg = b'{"execute": "x", "arguments": {"s": "a\\"b}\\\\"}, "id": [1, "]"]}'
    for cut in range(1, len(msg)):
        assert feed_all([msg[:cut], msg[cut:]]) == [
            {"execute": "x", "arguments": {"s": 'a"b}\\'}, "id": [1, "]"]}]


def test_scalars_and_garbage() -> None:
    out = feed_all([b"42 true garbage \"str\" ]\n"])
    assert out[:2] == [42, True]
    assert isinstance(out[2], ParseError) and out[2].desc == "invalid keyword 'garbage'"
    assert out[3] == "str"
    assert isinstance(out[4], ParseError)


def test_invalid_utf8_and_bad_json() -> None:
    out = feed_all([b'{"a": "\xff"}{"a" 1}'])
    assert [type(o) for o in out] == [ParseError, ParseError]


def test_oversized_message_resyncs_at_newline() -> None:
    out = feed_all([b'{"a": "' + b"x" * 100, b"y" * 100 + b'"}\n{"ok": 1}'], max_size=64)
    assert isinstance(out[0], ParseError) and "exceeds" in out[0].desc
    assert out[1:] == [{"ok": 1}]


def test_nesting_limit() -> None:
    out = feed_all([b"[" * 2000 + b"\n" + b'{"ok": 2}'])
    assert isinstance(out[0], ParseError) and out[1:] == [{"ok": 2}]
