"""`nat-export build-plugins` on a first run: missing headers are said before anything compiles."""

from __future__ import annotations

import shutil

import pytest

from nat_export.native import NativeBuildError, build


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not found")
def test_no_headers_for_any_adapter_fails_before_compiling(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(build, "find_trt_include", lambda explicit=None: (None, "no TensorRT headers found (x)"))
    monkeypatch.setattr(build, "find_ort_include", lambda *a, **k: (None, "no ONNX Runtime headers (y)"))
    monkeypatch.setattr(build, "_run", lambda *a, **k: ran.append(a))
    with pytest.raises(NativeBuildError, match=r"no adapter can be built: TensorRT headers: .*\(x\).*\(y\)"):
        build.build_plugins(tmp_path / "out")
    assert ran == []


def test_fetching_ort_headers_is_the_default():
    import argparse

    assert build.add_arguments(argparse.ArgumentParser()).parse_args([]).fetch_ort_headers is True
    assert (
        build.add_arguments(argparse.ArgumentParser()).parse_args(["--no-fetch-ort-headers"]).fetch_ort_headers is False
    )
