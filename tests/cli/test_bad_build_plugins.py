"""`nat-export build-plugins` with bad input: one line naming the fix, exit 1, refused before CMake runs, and
nothing of the user's touched (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--jobs", "-1"], "--jobs must be >= 1"),
    (["--jobs", "x"], "--jobs"),
    (["--cuda-archs", "abc"], "--cuda-archs"),
    (["--cuda-archs", "86;"], "--cuda-archs"),
    (["--out-dir", "{tmp}/weights.txt"], "is not a folder"),
    (["--json", "{out}"], "exists; pass --force"),
    (["--json", "{dir}"], "folder"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("build-plugins", ["--no-fetch-ort-headers", *argv], words)


def test_another_projects_build_folder_is_never_removed(bad, tmp_path):
    """--out-dir DIR whose build/ holds another CMake project's build: refused, not wiped."""
    build = tmp_path / "proj" / "build"
    build.mkdir(parents=True)
    (build / "CMakeCache.txt").write_text(
        "CMAKE_HOME_DIRECTORY:INTERNAL=/home/user/other\nCMAKE_PROJECT_NAME:STATIC=other\n"
    )
    (build / "important.o").write_text("precious")
    bad("build-plugins", ["--no-fetch-ort-headers", "--out-dir", tmp_path / "proj"], "another CMake project")
