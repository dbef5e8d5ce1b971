"""``liqdesk render`` writes its PNG under a temporary name and renames it into place: a failed
write (Qt reports a full disk by returning False from the save, after writing part of the file)
leaves neither a partial PNG nor a temporary, and an existing picture as it was."""

from __future__ import annotations

import pytest

from liqdesk.cli import main


@pytest.fixture
def disk_full_at_save(monkeypatch):
    from PySide6 import QtGui

    def save(self, path, fmt=None, quality=-1):
        with open(path, "wb") as fh:  # what a save cut short leaves: the start of a PNG
            fh.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
        return False

    monkeypatch.setattr(QtGui.QPixmap, "save", save)


def test_render_failing_to_write_leaves_nothing(qapp, session_path, tmp_path, capsys, disk_full_at_save):
    out = tmp_path / "chart.png"
    assert main(["render", str(session_path), "--out", str(out), "--width", "400", "--height", "300"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"could not write {out}" in err and ".partial-" not in err
    assert "nothing was written there" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_render_failing_over_an_existing_picture_keeps_it(qapp, session_path, tmp_path, capsys, monkeypatch):
    out = tmp_path / "chart.png"
    assert main(["render", str(session_path), "--out", str(out), "--width", "400", "--height", "300"]) == 0
    good = out.read_bytes()
    capsys.readouterr()
    from PySide6 import QtGui

    monkeypatch.setattr(QtGui.QPixmap, "save", lambda self, path, fmt=None, quality=-1: False)
    assert main(["render", str(session_path), "--out", str(out), "--width", "400", "--height", "300",
                 "--overwrite"]) == 2
    assert "it is unchanged" in capsys.readouterr().err
    assert out.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]
