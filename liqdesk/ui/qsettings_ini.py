"""The ``@ByteArray(...)`` values of a QSettings INI file, read as plain text.

liqdesk once kept its window layouts through ``QSettings`` (``liqdesk.conf``). Reading that file
through QSettings is unsafe: Qt decodes every ``@Variant(...)`` value with QDataStream while it
parses the file, and PySide6 turns a ``PySide::PyObjectWrapper`` variant into a Python object with
pickle — a liqdesk.conf written by someone else ran code as soon as any key was read. The layout
migration (:mod:`.layout_file`) therefore reads the old file with this module, which follows Qt's
INI syntax (``qsettings.cpp``: line splitting, key escaping, value escaping) only as far as
needed to find byte arrays. Every other kind of value, ``@Variant`` included, is skipped without
being decoded. No Qt here.
"""

from __future__ import annotations

_SPACE = frozenset(b"\t\n\r ")
_TRIM = frozenset(b"\t\n\v\f\r ")            # QByteArray::trimmed
_LINE_SPECIAL = frozenset(b"\n\r\";=\\")
_EOL = frozenset(b"\n\r")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_OCT = frozenset(b"01234567")
_VALUE_BREAK = frozenset(b"\\\",")
#: the one-letter escapes of a value (``\n`` ...)
_ESCAPES = {ord(k): v for k, v in (("a", "\a"), ("b", "\b"), ("f", "\f"), ("n", "\n"), ("r", "\r"),
                                   ("t", "\t"), ("v", "\v"), ('"', '"'), ("?", "?"), ("'", "'"),
                                   ("\\", "\\"))}
BYTE_ARRAY = "@ByteArray("


def _read_line(data: bytes, pos: int) -> tuple[int, int, int]:
    """One logical line from ``pos``: (start, end, position of its first unquoted '=' or -1).
    A backslash escapes the next byte (a line ending too), quotes hide line ends, ';' starts a
    comment."""
    n = len(data)
    in_quotes = False
    equals = -1
    start = pos
    while start < n and data[start] in _SPACE:
        start += 1
    i = start
    while i < n:
        ch = data[i]
        i += 1
        if ch not in _LINE_SPECIAL:
            continue
        if ch == 0x3D:                                   # '='
            if not in_quotes and equals == -1:
                equals = i - 1
        elif ch in _EOL:
            if i == start + 1:
                start += 1
            elif not in_quotes:
                return start, i - 1, equals
        elif ch == 0x5C:                                 # backslash
            if i < n:
                escaped = data[i]
                i += 1
                if i < n and {escaped, data[i]} == {0x0A, 0x0D}:
                    i += 1
        elif ch == 0x22:                                 # '"'
            in_quotes = not in_quotes
        elif i == start + 1:                             # ';' opening the line: a comment
            while i < n and data[i] not in _EOL:
                i += 1
            while i < n and data[i] in _SPACE:
                i += 1
            start = i
        elif not in_quotes:                              # ';' after text ends the line
            return start, i - 1, equals
    return start, i, equals


def _trim(raw: bytes) -> bytes:
    start, end = 0, len(raw)
    while start < end and raw[start] in _TRIM:
        start += 1
    while end > start and raw[end - 1] in _TRIM:
        end -= 1
    return raw[start:end]


def unescape_key(raw: bytes) -> str:
    """A key or section name: ``\\`` separates groups, ``%XX`` and ``%UXXXX`` are characters."""
    text = raw.decode("utf-8", "replace")
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            out.append("/")
            i += 1
            continue
        if ch != "%" or i == n - 1:
            out.append(ch)
            i += 1
            continue
        first, digits = (i + 2, 4) if text[i + 1] == "U" else (i + 1, 2)
        code = text[first:first + digits]
        if len(code) == digits and all(c in "0123456789abcdefABCDEF" for c in code):
            out.append(chr(int(code, 16)))
            i = first + digits
        else:
            out.append("%")
            i += 1
    # %UXXXX are UTF-16 code units: a character beyond U+FFFF is written as two of them
    return "".join(out).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _skip_spaces(raw: bytes, i: int) -> int:
    while i < len(raw) and raw[i] in (0x20, 0x09):
        i += 1
    return i


def _chop_trailing_spaces(chars: list[str], limit: int) -> None:
    while len(chars) > limit and chars[-1] in (" ", "\t"):
        chars.pop()


def unescape_value(raw: bytes) -> str | None:
    """A value's text with Qt's escapes (``\\n``, ``\\x1f``, octal ``\\0``, quotes) undone, or
    None for a list (an unquoted comma: never a byte array)."""
    chars: list[str] = []
    is_list = in_quotes = quoted = False
    n = len(raw)
    i = _skip_spaces(raw, 0)
    chop_limit = 0
    while i < n:
        ch = raw[i]
        if ch == 0x5C:                                   # backslash
            i += 1
            if i >= n:
                return None if is_list else "".join(chars)
            code = raw[i]
            i += 1
            if code in _ESCAPES:
                chars.append(_ESCAPES[code])
            elif code == 0x78 and i < n and raw[i] in _HEX:   # \x: any number of hex digits
                value = 0
                while i < n and raw[i] in _HEX:
                    value = (value * 16 + int(chr(raw[i]), 16)) & 0xFFFF
                    i += 1
                chars.append(chr(value))
            elif code == 0x78 and i >= n:
                return None if is_list else "".join(chars)
            elif code in _OCT:
                value = code - 0x30
                while i < n and raw[i] in _OCT:
                    value = (value * 8 + raw[i] - 0x30) & 0xFFFF
                    i += 1
                chars.append(chr(value))
            elif code in _EOL and i < n and raw[i] in _EOL and raw[i] != code:
                i += 1                                   # an escaped line end: a continuation
            chop_limit = len(chars)                      # (any other escaped byte is dropped)
        elif ch == 0x22:                                 # '"'
            i += 1
            quoted = True
            in_quotes = not in_quotes
            if not in_quotes:
                i = _skip_spaces(raw, i)
                chop_limit = len(chars)
        elif ch == 0x2C and not in_quotes:               # ',': the value is a list
            is_list = True
            chars, quoted = [], False
            i = _skip_spaces(raw, i + 1)
            chop_limit = 0
        else:
            j = i + 1
            while j < n and raw[j] not in _VALUE_BREAK:
                j += 1
            chars.extend(raw[i:j].decode("utf-8", "replace"))
            i = j
    if not quoted:
        _chop_trailing_spaces(chars, chop_limit)
    return None if is_list else "".join(chars)


def byte_array(text: str) -> bytes | None:
    """The bytes of an ``@ByteArray(...)`` value's text, else None. Qt keeps each character's
    Latin-1 code, '?' for one beyond it."""
    if not (text.startswith(BYTE_ARRAY) and text.endswith(")")):
        return None
    return "".join(c if ord(c) <= 0xFF else "?" for c in text[len(BYTE_ARRAY):-1]).encode("latin-1")


def read_byte_arrays(data: bytes) -> tuple[dict[str, bytes], int]:
    """Every ``@ByteArray`` value of an INI file's bytes by its full key (``windows/main/state``),
    and how many other values were skipped undecoded (``@Variant`` and the rest). A key written
    twice keeps its last value, as in QSettings."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    found: dict[str, bytes] = {}
    skipped = 0
    section = ""
    pos = 0
    while True:
        start, end, equals = _read_line(data, pos)
        pos = end
        if end <= start:
            break
        line = data[start:end]
        if line.startswith(b"["):
            close = line.find(b"]")
            name = _trim(line[1:close if close >= 0 else len(line)])
            if name.lower() == b"general":
                section = ""
            elif name.lower() == b"%general":
                section = name[1:].decode("latin-1") + "/"
            else:
                section = unescape_key(name) + "/"
            continue
        if equals < 0:
            continue                                     # a comment or a line without a key
        key = section + unescape_key(_trim(data[start:equals]))
        text = unescape_value(data[equals + 1:end])
        value = byte_array(text) if text is not None else None
        if value is None:
            skipped += 1
            found.pop(key, None)
        else:
            found[key] = value
    return found, skipped
