"""samples/cpp compiles and links against TensorRT's lean runtime (PyPI wheel) and cudart here;
its argument checks and no-GPU error work without a GPU; its PPM preprocessing matches Pillow's."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "cpp"


def _pkg_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _nvcc() -> str | None:
    for cand in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file():
            return cand
    return None


@pytest.fixture(scope="module")
def sample_binary(tmp_path_factory) -> Path:
    for tool in ("cmake", "g++"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found")
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("no CUDA toolkit (nvcc) for cudart")
    lean, lens = _pkg_dir("tensorrt_lean_libs"), _pkg_dir("kernel_lens")
    if lean is None or lens is None:
        pytest.skip("needs tensorrt-lean-cu13-libs and kernel-lens (pip install '.[test]')")
    lib = next(iter(sorted(lean.glob("libnvinfer_lean.so.*"))), None)
    inc = lens / "include" / "tensorrt"
    if lib is None or not (inc / "NvInfer.h").is_file():
        pytest.skip("lean runtime library or TensorRT headers missing from the wheels")
    build = tmp_path_factory.mktemp("cpp_sample")
    cfg = subprocess.run(
        ["cmake", "-S", str(SAMPLE), "-B", str(build), "-DNATX_SAMPLE_LEAN=ON", f"-DTRT_INCLUDE_DIR={inc}",
         f"-DTRT_LIBRARY={lib}", f"-DCUDAToolkit_ROOT={Path(nvcc).parents[1]}"],
        capture_output=True, text=True,
    )
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    bld = subprocess.run(["cmake", "--build", str(build), "-j", "2"], capture_output=True, text=True)
    assert bld.returncode == 0, bld.stdout + bld.stderr
    exe = build / "nat_infer"
    assert exe.is_file()
    return exe


def test_links_lean_runtime_and_cudart(sample_binary):
    ldd = subprocess.run(["ldd", str(sample_binary)], capture_output=True, text=True).stdout
    assert "libnvinfer_lean.so" in ldd and "libcudart.so" in ldd
    assert "not found" not in ldd


def test_help(sample_binary):
    r = subprocess.run([str(sample_binary), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "usage: nat_infer ENGINE INPUT" in r.stdout and "--plugin" in r.stdout


def test_argument_errors(sample_binary, tmp_path):
    r = subprocess.run([str(sample_binary), str(tmp_path / "none.engine"), "x.ppm"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("nat_infer: error: engine") and "nat-export trt" in r.stderr
    r = subprocess.run([str(sample_binary)], capture_output=True, text=True)
    assert r.returncode == 1 and "expected ENGINE and INPUT" in r.stderr


def test_no_gpu_error_comes_before_tensorrt(sample_binary, tmp_path):
    from nat_export.runtime.trt_engine import cuda_device_count

    if cuda_device_count() > 0:
        pytest.skip("a GPU is present: the sample would go on to TensorRT")
    engine, img = tmp_path / "m.engine", tmp_path / "x.ppm"
    engine.write_bytes(b"x")
    img.write_bytes(b"P6\n1 1\n255\n\x00\x00\x00")
    r = subprocess.run([str(sample_binary), str(engine), str(img)], capture_output=True, text=True)
    assert r.returncode == 1 and "no CUDA GPU is usable" in r.stderr


def test_ppm_preprocessing_matches_python(sample_binary, tmp_path):
    from PIL import Image

    from nat_export.runtime.preprocess import default_preprocessing, load_images

    rng = np.random.default_rng(0)
    for size, res in (((400, 300), 224), ((90, 120), 64), ((73, 73), 64)):
        ppm = tmp_path / "x.ppm"
        Image.fromarray(rng.integers(0, 255, (30, 40, 3)).astype(np.uint8)).resize(size, Image.BICUBIC).save(ppm)
        out = tmp_path / "x.f32"
        r = subprocess.run([str(sample_binary), "--dump-input", str(out), "--resolution", str(res), str(ppm)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        ours = np.fromfile(out, dtype="<f4").reshape(3, res, res)
        ref = load_images([ppm], default_preprocessing((res, res)))[0]
        levels = np.abs(ours - ref) * np.array([0.229, 0.224, 0.225])[:, None, None] * 255
        assert levels.max() <= 2.01, (size, res, levels.max())  # Pillow rounds in fixed point
