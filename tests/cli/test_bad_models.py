"""`nat-export models` with bad input: one line naming the fix, exit 1, nothing written (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    (["--json", "{dir}"], "folder"),
    (["--json", "{out}"], "exists; pass --force"),
    (["--json", "{dir}", "--force"], "folder"),
    (["--json", "{tmp}/model.txt/m.json"], "is not a folder"),
    (["extra"], "unrecognized arguments"),
    (["--force", "--bogus"], "--bogus"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("models", argv, words)


def test_json_onto_a_pipe(bad, tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe")
    bad("models", ["--json", tmp_path / "pipe", "--force"], "not a regular file")
