"""build-plugins picks the nvcc whose CUDA major matches the installed TensorRT wheels (the plugin
links the CUDA runtime statically, and a runtime newer than the driver fails at the first launch),
refuses in one line when none does, and records what it used in the library (read back by
nat_export.native.plugin_build_info, written into engine sidecars). No compiling here except what
the session build already did."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from nat_export.native import NativeBuildError, build


def _fake_nvcc(tmp_path: Path, version: str) -> str:
    p = tmp_path / f"cuda-{version}" / "bin" / "nvcc"
    p.parent.mkdir(parents=True)
    p.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {version}, V{version}.1'\n")
    p.chmod(0o755)
    return str(p)


def test_nvcc_version_and_wrapper(tmp_path):
    nvcc = _fake_nvcc(tmp_path, "12.8")
    assert build.nvcc_version(nvcc) == (12, 8)
    assert build.nvcc_version(str(tmp_path / "missing")) is None
    wrapper = tmp_path / "nvcc-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {nvcc} "$@"\n')
    assert build._real_nvcc(str(wrapper)) == str(Path(nvcc).resolve())


def test_choose_nvcc_matches_the_tensorrt_cuda_major(tmp_path):
    n13, n12 = _fake_nvcc(tmp_path, "13.0"), _fake_nvcc(tmp_path, "12.9")
    assert build.choose_nvcc(12, "tensorrt-cu12 10.14", [n13, n12]) == (n12, (12, 9))
    assert build.choose_nvcc(13, "tensorrt-cu13 10.14", [n13, n12]) == (n13, (13, 0))
    assert build.choose_nvcc(None, "", [n13, n12]) == (n13, (13, 0))  # nothing to match: the first
    assert build.choose_nvcc(12, "x", []) == (None, None)


def test_choose_nvcc_refuses_a_mismatch_in_one_line(tmp_path):
    n13 = _fake_nvcc(tmp_path, "13.0")
    with pytest.raises(NativeBuildError) as e:
        build.choose_nvcc(12, "tensorrt-cu12 10.14.1", [n13])
    msg = str(e.value)
    assert "\n" not in msg
    assert "built for CUDA 12" in msg and "CUDA 13.0" in msg and "CUDACXX" in msg and "tensorrt-cu13" in msg


def _dists(*names):
    return lambda: [types.SimpleNamespace(metadata={"Name": n}, version="10.14.1") for n in names]


@pytest.mark.parametrize(
    ("names", "major"),
    [
        (["tensorrt-cu12", "tensorrt-cu12-libs", "tensorrt-cu12-bindings", "numpy"], 12),
        (["tensorrt_lean_cu13_libs", "tensorrt_lean_cu13_bindings"], 13),
        (["tensorrt-dispatch-cu12-libs"], 12),
        (["numpy", "tensorrt-tools"], None),
    ],
)
def test_installed_trt_cuda_major(monkeypatch, names, major):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "distributions", _dists(*names))
    assert build.installed_trt_cuda_major()[0] == major


def test_two_cuda_majors_of_tensorrt_are_refused(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "distributions", _dists("tensorrt-cu12-libs", "tensorrt-lean-cu13-libs"))
    with pytest.raises(NativeBuildError, match="CUDA 12 .* and 13 .* are installed; uninstall"):
        build.installed_trt_cuda_major()


def test_build_plugins_refuses_before_compiling(monkeypatch, tmp_path, run_cli):
    """The CLI's one error line, before CMake runs."""
    if build.find_trt_include()[0] is None:
        pytest.skip("no TensorRT headers: the CUDA match only matters for the TensorRT plugin")
    n13 = _fake_nvcc(tmp_path, "13.0")
    monkeypatch.setattr(build, "installed_trt_cuda_major", lambda: (12, "tensorrt-cu12 10.14.1"))
    monkeypatch.setattr(build, "nvcc_candidates", lambda: [n13])
    ran = []
    monkeypatch.setattr(build, "_run", lambda *a, **k: ran.append(a) or "")
    code, out, err = run_cli("build-plugins", "--out-dir", tmp_path / "out", "--no-fetch-ort-headers")
    assert code == 1 and not ran
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nat-export build-plugins: error: the installed TensorRT")


def test_this_machine_matches(native_libs):
    """Here: the lean TensorRT 11 wheels for CUDA 13 and nvcc 13: the library records CUDA 13, the nvcc, and
    the default architectures (sm_87 included, PTX of sm_90)."""
    lib = native_libs.libs.get("trt")
    if lib is None:
        pytest.skip("the TensorRT plugin was not built here")
    info = build.plugin_build_info(lib)
    assert info is not None, f"{lib} has no natx-build record"
    major, wheel = build.installed_trt_cuda_major()
    if major is not None:
        assert info["cuda-runtime"].split(".")[0] == str(major), (info, wheel)
    assert Path(info["nvcc"]).is_file()
    assert info["archs"] == build.DEFAULT_CUDA_ARCHS.replace(";", ",")
    assert info["trt-headers"].split(".")[0] in ("10", "11")


def test_plugin_build_info_absent(tmp_path):
    f = tmp_path / "lib.so"
    f.write_bytes(b"\x7fELF no record")
    assert build.plugin_build_info(f) is None
    assert build.plugin_build_info(tmp_path / "missing.so") is None
