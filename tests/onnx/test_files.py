"""ONNX files: read once with clear errors for files that are not models; atomic writes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from nat_export.onnx.files import OnnxFileError, read_onnx, write_atomic


def test_atomic_write_refuses_overwrite(tmp_path):
    p = tmp_path / "x.bin"
    write_atomic(p, b"one", force=False)
    with pytest.raises(FileExistsError, match="--force"):
        write_atomic(p, b"two", force=False)
    assert p.read_bytes() == b"one"
    write_atomic(p, b"two", force=True)
    assert p.read_bytes() == b"two"


def test_atomic_write_onto_a_folder(tmp_path):
    with pytest.raises(FileExistsError, match="is a folder"):
        write_atomic(tmp_path, b"x", force=True)


def test_atomic_write_is_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "m.onnx", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.onnx").stat().st_mode) == 0o644


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_write_leaves_no_temporary_file(tmp_path, sig):
    code = (
        "import os, signal, sys\n"
        f"signal.signal({int(sig)}, signal.SIG_DFL)\n"  # as in a terminal, whatever the test runner ignores
        "from nat_export.onnx import files\n"
        "orig = os.fdopen\n"
        "def fdopen(fd, mode):\n"
        "    f = orig(fd, mode)\n"
        f"    os.kill(os.getpid(), {int(sig)})\n"
        "    return f\n"
        "files.os.fdopen = fdopen\n"
        f"files.write_atomic({str(tmp_path / 'out.bin')!r}, b'data')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -sig
    assert list(tmp_path.iterdir()) == []


def test_an_ignored_signal_stays_ignored_during_a_write(tmp_path):
    """Under nohup SIGHUP is ignored: a write then neither dies nor loses its temporary file to it."""
    code = (
        "import os, signal\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "from nat_export.onnx import files\n"
        "orig = os.fdopen\n"
        "def fdopen(fd, mode):\n"
        "    f = orig(fd, mode)\n"
        "    os.kill(os.getpid(), signal.SIGHUP)\n"
        "    return f\n"
        "files.os.fdopen = fdopen\n"
        f"files.write_atomic({str(tmp_path / 'out.bin')!r}, b'data')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"] and (tmp_path / "out.bin").read_bytes() == b"data"


def test_a_writer_that_finishes_first_is_never_replaced(tmp_path, monkeypatch):
    """Two exports to one path: the file appears while the second is writing; the second is refused, the first
    one's file stays, and no temporary file is left (no check-then-act race)."""
    from nat_export.onnx import files

    path = tmp_path / "m.onnx"
    orig = os.fdopen

    def fdopen(fd, mode):  # the other writer publishes while this one writes
        path.write_bytes(b"first")
        return orig(fd, mode)

    monkeypatch.setattr(files.os, "fdopen", fdopen)
    with pytest.raises(FileExistsError, match="exists; pass --force"):
        write_atomic(path, b"second", force=False)
    assert path.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_concurrent_writers_one_wins(tmp_path):
    """Processes racing to publish one path without --force: exactly one succeeds each round."""
    code = (
        "import sys, time\n"
        "from nat_export.onnx.files import write_atomic\n"
        "start = float(sys.argv[1])\n"
        "while time.time() < start: pass\n"
        "try:\n"
        "    write_atomic(sys.argv[2], sys.argv[3].encode(), force=False)\n"
        "    print('wrote')\n"
        "except FileExistsError:\n"
        "    print('refused')\n"
    )
    import time

    for round_ in range(3):
        path = tmp_path / f"m{round_}.onnx"
        start = f"{time.time() + 2.0}"
        procs = [
            subprocess.Popen([sys.executable, "-c", code, start, str(path), f"w{i}"], stdout=subprocess.PIPE, text=True)
            for i in range(3)
        ]
        said = sorted(p.communicate()[0].strip() for p in procs)
        assert said == ["refused", "refused", "wrote"], said
        assert path.read_text() in ("w0", "w1", "w2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0.onnx", "m1.onnx", "m2.onnx"]


@pytest.mark.parametrize("content", [b"", b"hello, not a model", b"\x08\x07\x12\x03abc\xff\xff"])
def test_files_that_are_not_models(tmp_path, content):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(OnnxFileError, match="bad.onnx"):
        read_onnx(p)


def test_truncated_model(tmp_path, micro_onnx):
    p = tmp_path / "cut.onnx"
    p.write_bytes(micro_onnx.read_bytes()[:1000])
    with pytest.raises(OnnxFileError, match="not a readable ONNX model"):
        read_onnx(p)


def test_missing_and_folder(tmp_path):
    with pytest.raises(OnnxFileError, match="not found"):
        read_onnx(tmp_path / "none.onnx")
    with pytest.raises(OnnxFileError, match="not a file"):
        read_onnx(tmp_path)


def test_facts(micro_onnx, na_onnx):
    _, f = read_onnx(micro_onnx)
    assert f.input_name == "pixel_values" and f.input_types["pixel_values"] == "float32"
    assert f.na_nodes == 0 and f.fixed_batch is None and f.outputs == ["logits"]
    assert f.shape_for_batch(3) == (3, 3, 64, 64)
    _, g = read_onnx(na_onnx)
    assert g.na_nodes == 1 and g.description.variant == "na-test"


def test_no_check_then_act_race(tmp_path, monkeypatch):
    """A file that appears while we write (another export to the same path) is never replaced without force."""
    from nat_export.onnx import files

    target = tmp_path / "m.onnx"
    real_fdopen = os.fdopen

    def fdopen(fd, mode):
        target.write_bytes(b"the other writer's model")  # appears after the up-front check
        return real_fdopen(fd, mode)

    monkeypatch.setattr(files.os, "fdopen", fdopen)
    with pytest.raises(FileExistsError, match="--force"):
        write_atomic(target, b"ours", force=False)
    assert target.read_bytes() == b"the other writer's model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left
