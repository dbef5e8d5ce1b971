"""The old settings file's byte arrays, read as text, are the ones Qt wrote (checked against
QSettings' own INI writer: writing runs no code, only reading a crafted file does)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6 import QtCore

from liqdesk.ui.qsettings_ini import read_byte_arrays, unescape_key, unescape_value

_files = itertools.count()


def _written_by_qt(tmp_path, values: dict) -> bytes:
    """The bytes of an INI file QSettings wrote with ``values`` (a new path each time: Qt caches
    the files it has opened)."""
    path = tmp_path / f"written-{next(_files)}.conf"
    qs = QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)
    for key, value in values.items():
        qs.setValue(key, value)
    qs.sync()
    assert qs.status() == QtCore.QSettings.Status.NoError
    del qs
    return path.read_bytes()


layout_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/\\"),
                       min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(blobs=st.dictionaries(layout_names, st.binary(max_size=200), min_size=1, max_size=4),
       geometry=st.binary(max_size=80))
def test_byte_arrays_read_as_text_equal_what_qsettings_wrote(tmp_path_factory, blobs, geometry):
    tmp_path = tmp_path_factory.mktemp("ini", numbered=True)
    values = {f"layouts/{name}/state": QtCore.QByteArray(blob) for name, blob in blobs.items()}
    values["windows/main/geometry"] = QtCore.QByteArray(geometry)
    found, skipped = read_byte_arrays(_written_by_qt(tmp_path, values))
    assert skipped == 0
    assert found == {key: bytes(value.data()) for key, value in values.items()}


def test_every_byte_and_the_tricky_neighbours_survive(tmp_path):
    tricky = [bytes(range(256)), b"\x00123abc", b"\x7fff", b" leading and trailing ", b'";,=\\\n\r\t',
              b"", b"\\x41", b"(nested) )"]
    values = {f"windows/w{i}/state": QtCore.QByteArray(b) for i, b in enumerate(tricky)}
    found, _ = read_byte_arrays(_written_by_qt(tmp_path, values))
    assert found == {f"windows/w{i}/state": b for i, b in enumerate(tricky)}


def test_values_of_other_kinds_are_skipped_undecoded(tmp_path):
    data = _written_by_qt(tmp_path, {"windows/main/state": QtCore.QByteArray(b"\x01\x02"), "a/text": "hello",
                                     "a/list": ["x", "y"], "a/number": 3, "a/rect": QtCore.QRect(1, 2, 3, 4)})
    data += b"\n[windows]\nmain\\geometry=@Variant(\\0\\0\\0\\x7f\\0\\0\\0\\x18PySide::PyObjectWrapper\\0\\0)\n"
    found, skipped = read_byte_arrays(data)
    assert found == {"windows/main/state": b"\x01\x02"}
    assert skipped == 5


def test_hand_written_ini_syntax():
    data = (b"\xef\xbb\xbf; a comment\n[General]\ntop=@ByteArray(a)\n[windows]\r\n"
            b"  main\\state = \"@ByteArray(x\\\n\\x41\\101)\"  ; trailing comment\n"
            b"main\\geometry=@ByteArray(first)\nmain\\geometry=@ByteArray(second)\n"
            b"[%General]\nkey=@ByteArray(g)\n[layouts]\nno equals sign here\n")
    found, _ = read_byte_arrays(data)
    assert found == {"top": b"a", "windows/main/state": b"xAA", "windows/main/geometry": b"second",
                     "General/key": b"g"}


def test_key_and_value_escapes():
    assert unescape_key(b"my%20layout%2C%20x%3D1\\state") == "my layout, x=1/state"
    assert unescape_key(b"%U00e9t%e9") == "\u00e9t\u00e9"
    assert unescape_key(b"100%") == "100%"
    assert unescape_value(b"a, b") is None                      # a list, never a byte array
    assert unescape_value(b'"a, b"') == "a, b"
    assert unescape_value(b"  padded  ") == "padded"
    assert unescape_value(b"\\x1234") == "\u1234"
