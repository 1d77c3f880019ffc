"""Bad command lines before any command runs: one line, exit 1 (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    ([], "no command given"),
    (["bogus"], "invalid choice"),
    (["--nonsense"], "--nonsense"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_command_line_is_one_clear_line(bad, argv, words):
    bad("", argv, words)


@pytest.mark.parametrize(
    "command, argv",
    [
        ("onnx", ["{tmp}/m.onnx"]),
        ("validate", ["{onnx}"]),
        ("trt", ["{onnx}"]),
        ("bench", ["{onnx}"]),
        ("infer", ["{onnx}", "{img}"]),
        ("models", []),
        ("build-plugins", []),
    ],
)
def test_unknown_flag_is_one_clear_line(bad, command, argv):
    bad(command, [*argv, "--no-such-flag"], "unrecognized arguments: --no-such-flag")
