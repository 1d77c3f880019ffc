"""samples/cpp compiles and links against TensorRT's lean runtime (PyPI wheel), cudart and nlohmann/json
(PyPI wheel) here; its argument checks and no-GPU error work without a GPU; its PPM preprocessing matches
Pillow's; its sidecar reader (samples/cpp/common/sidecar.cpp) reads ENGINE.json as JSON, strictly."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "cpp"
PROBE = Path(__file__).resolve().parent / "sidecar_probe.cpp"


def _pkg_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _nvcc() -> str | None:
    for cand in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file():
            return cand
    return None


def _json_include() -> Path | None:
    """The include folder of the `nlohmann-json` PyPI package (nlohmann_json/include/nlohmann/json.hpp)."""
    pkg = _pkg_dir("nlohmann_json")
    inc = pkg / "include" if pkg else None
    return inc if inc and (inc / "nlohmann" / "json.hpp").is_file() else None


def _trt_cmake_args() -> list[str]:
    """-D arguments for TensorRT (lean runtime + headers from the wheels) and cudart; skips without them."""
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
    return [
        "-DNATX_SAMPLE_LEAN=ON",
        f"-DTRT_INCLUDE_DIR={inc}",
        f"-DTRT_LIBRARY={lib}",
        f"-DCUDAToolkit_ROOT={Path(nvcc).parents[1]}",
    ]


def _configure(build: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["cmake", "-S", str(SAMPLE), "-B", str(build), *args], check=False, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def sample_binary(tmp_path_factory) -> Path:
    trt_args = _trt_cmake_args()
    json_inc = _json_include()
    if json_inc is None:
        pytest.skip("needs nlohmann-json (pip install '.[test]')")
    build = tmp_path_factory.mktemp("cpp_sample")
    cfg = _configure(build, *trt_args, f"-DNLOHMANN_JSON_INCLUDE_DIR={json_inc}")
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    assert f"nlohmann/json from {json_inc}" in cfg.stdout
    bld = subprocess.run(["cmake", "--build", str(build), "-j", "2"], check=False, capture_output=True, text=True)
    assert bld.returncode == 0, bld.stdout + bld.stderr
    exe = build / "nat_infer"
    assert exe.is_file()
    return exe


@pytest.fixture(scope="module")
def sidecar_probe(tmp_path_factory) -> Path:
    """tests/samples/sidecar_probe.cpp + the sample's sidecar reader: prints what the reader got, as JSON."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found")
    json_inc = _json_include()
    if json_inc is None:
        pytest.skip("needs nlohmann-json (pip install '.[test]')")
    exe = tmp_path_factory.mktemp("probe") / "sidecar_probe"
    common = SAMPLE / "common"
    r = subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{SAMPLE}",
            "-isystem",
            str(json_inc),
            str(PROBE),
            str(common / "sidecar.cpp"),
            str(common / "files.cpp"),
            str(common / "error.cpp"),
            "-o",
            str(exe),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return exe


# ---------------------------------------------------------------- build, command line, preprocessing


def test_links_lean_runtime_and_cudart(sample_binary):
    ldd = subprocess.run(["ldd", str(sample_binary)], check=False, capture_output=True, text=True).stdout
    assert "libnvinfer_lean.so" in ldd and "libcudart.so" in ldd
    assert "not found" not in ldd


def test_help(sample_binary):
    r = subprocess.run([str(sample_binary), "--help"], check=False, capture_output=True, text=True)
    assert r.returncode == 0 and "usage: nat_infer ENGINE INPUT" in r.stdout and "--plugin" in r.stdout


def test_argument_errors(sample_binary, tmp_path):
    r = subprocess.run(
        [str(sample_binary), str(tmp_path / "none.engine"), "x.ppm"], check=False, capture_output=True, text=True
    )
    assert r.returncode == 1 and r.stderr.startswith("nat_infer: error: engine") and "nat-export trt" in r.stderr
    r = subprocess.run([str(sample_binary)], check=False, capture_output=True, text=True)
    assert r.returncode == 1 and "expected ENGINE and INPUT" in r.stderr


def test_no_gpu_error_comes_before_tensorrt(sample_binary, tmp_path):
    from nat_export.tensorrt import cuda_device_count

    if cuda_device_count() > 0:
        pytest.skip("a GPU is present: the sample would go on to TensorRT")
    engine, img = tmp_path / "m.engine", tmp_path / "x.ppm"
    engine.write_bytes(b"x")
    img.write_bytes(b"P6\n1 1\n255\n\x00\x00\x00")
    r = subprocess.run([str(sample_binary), str(engine), str(img)], check=False, capture_output=True, text=True)
    assert r.returncode == 1 and "no CUDA GPU is usable" in r.stderr


def test_ppm_preprocessing_matches_python(sample_binary, tmp_path):
    from PIL import Image

    from nat_export.runtime.preprocess import default_preprocessing, load_images

    rng = np.random.default_rng(0)
    for size, res in (((400, 300), 224), ((90, 120), 64), ((73, 73), 64)):
        ppm = tmp_path / "x.ppm"
        Image.fromarray(rng.integers(0, 255, (30, 40, 3)).astype(np.uint8)).resize(size, Image.BICUBIC).save(ppm)
        out = tmp_path / "x.f32"
        r = subprocess.run(
            [str(sample_binary), "--dump-input", str(out), "--resolution", str(res), str(ppm)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        ours = np.fromfile(out, dtype="<f4").reshape(3, res, res)
        ref = load_images([ppm], default_preprocessing((res, res)))[0]
        levels = np.abs(ours - ref) * np.array([0.229, 0.224, 0.225])[:, None, None] * 255
        assert levels.max() <= 2.01, (size, res, levels.max())  # Pillow rounds in fixed point


def _random_ppm(path: Path, size, seed=0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (30, 40, 3)).astype(np.uint8)).resize(size, Image.BICUBIC).save(path)
    return path


def _dump(exe: Path, ppm: Path, out: Path, res, sidecar: Path | None = None) -> subprocess.CompletedProcess:
    args = [str(exe), "--dump-input", str(out), "--resolution", "x".join(str(r) for r in res), str(ppm)]
    if sidecar is not None:
        args += ["--sidecar", str(sidecar)]
    return subprocess.run(args, check=False, capture_output=True, text=True)


def _max_levels(ours: np.ndarray, ref: np.ndarray, std) -> float:
    """The largest difference in 0..255 levels (before normalization)."""
    return float((np.abs(ours - ref) * np.asarray(std, dtype=np.float64)[:, None, None] * 255).max())


# ---------------------------------------------------------------- the sidecar (ENGINE.json) reader

RECIPE = {  # not the ImageNet recipe, so that a reader falling back to the defaults is caught
    "resize_shorter_side": 80,
    "interpolation": "bicubic",
    "center_crop": [64, 64],
    "scale": 1 / 255,
    "mean": [0.5, 0.25, 0.125],
    "std": [0.2, 0.3, 0.4],
    "layout": "NCHW",
    "color": "RGB",
}


def _writer_sidecar(tmp_path: Path, preprocessing: dict | None, labels: list[str] | None) -> Path:
    """ENGINE.json as `nat-export trt` writes it (make_sidecar + write_sidecar), for m.engine."""
    from nat_export.onnx.metadata import ModelDescription, Preprocessing
    from nat_export.tensorrt.precision import precision_plan
    from nat_export.tensorrt.profiles import Profile
    from nat_export.tensorrt.sidecar import make_sidecar, read_sidecar, write_sidecar

    description = ModelDescription(
        variant="nat-tiny",
        config={"embed_dim": 64, "num_classes": len(labels or [])},
        na_mode="plugin",
        dtype="fp32",
        resolution=(64, 64),
        preprocessing=None if preprocessing is None else Preprocessing.from_dict(preprocessing),
        labels=labels,
    )
    engine = tmp_path / "m.engine"
    data = make_sidecar(
        engine_path=engine,
        onnx_path=tmp_path / "m.onnx",
        description=description,
        plan=precision_plan("fp32", "fp32", 11),
        tensorrt_version="11.4.0.106",
        profiles=[Profile({"pixel_values": ((1, 3, 64, 64), (1, 3, 64, 64), (8, 3, 64, 64))})],
        inputs=[{"name": "pixel_values", "dtype": "FLOAT", "shape": [-1, 3, 64, 64]}],
        outputs=[{"name": "logits", "dtype": "FLOAT", "shape": [-1, len(labels or [1])]}],
        plugin={"library": "libnat_export_trt.so", "version": "1", "namespace": ""},
        gpu={"name": "NVIDIA H100", "compute_capability": "9.0"},
    )
    path = write_sidecar(engine, data)
    assert read_sidecar(engine) is not None  # the Python reader accepts it too
    return path


def _probe(exe: Path, path: Path) -> dict:
    r = subprocess.run([str(exe), str(path)], check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reader_reads_what_the_writer_writes(sidecar_probe, tmp_path):
    from nat_export.models import imagenet_labels

    labels = list(imagenet_labels()) + ['a "quoted", label', "back\\slash", "tab\there", "caf\u00e9 \u732b \U0001f408"]
    got = _probe(sidecar_probe, _writer_sidecar(tmp_path, RECIPE, labels))
    assert got["labels"] == labels  # \uXXXX escapes (json.dumps writes ASCII), surrogate pairs, quotes
    assert got["resize_shorter_side"] == 80
    np.testing.assert_allclose(got["mean"], RECIPE["mean"], rtol=1e-7)
    np.testing.assert_allclose(got["std"], RECIPE["std"], rtol=1e-7)


def test_reader_defaults_without_recipe_or_labels(sidecar_probe, tmp_path):
    got = _probe(sidecar_probe, _writer_sidecar(tmp_path, None, None))
    assert got["labels"] == [] and got["resize_shorter_side"] == 0  # 0: derived from the crop
    np.testing.assert_allclose(got["mean"], [0.485, 0.456, 0.406], rtol=1e-7)
    np.testing.assert_allclose(got["std"], [0.229, 0.224, 0.225], rtol=1e-7)
    base = {"format": "nat-export.engine", "format_version": 1}
    for extra in (
        {"preprocessing": None, "labels": None},
        {"preprocessing": {"resize_shorter_side": None}},
        {"preprocessing": {"mean": [0.5], "std": [0.25]}},
    ):
        got = _probe(sidecar_probe, _write(tmp_path / "s.json", json.dumps({**base, **extra})))
        assert got["labels"] == [] and got["resize_shorter_side"] == 0, extra
    assert got["mean"] == [0.5] * 3 and got["std"] == [0.25] * 3  # one value: every channel (numpy broadcasting)


def _decoy_sidecar(tmp_path: Path) -> Path:
    """A valid sidecar whose key names also appear, with other values, inside label strings and in other
    objects before the real keys: the old reader took the first `"key":` anywhere in the file."""
    decoy = {
        "resize_shorter_side": 500,
        "mean": [9, 9, 9],
        "std": [7, 7, 7],
        "labels": ["wrong"],
        "preprocessing": {"resize_shorter_side": 501, "mean": [8, 8, 8], "std": [6, 6, 6]},
    }
    labels = ['"resize_shorter_side": 999, "mean": [1, 2, 3], "std": [4, 5, 6]', '"labels": ["x", "y"]', "cat"]
    data = {
        "labels": labels,  # first in the file
        "format": "nat-export.engine",
        "format_version": 1,
        "config": decoy,
        "gpu": {"name": '"preprocessing": {"mean": [0, 0, 0]}', "labels": ["gpu"]},
        "profiles": [{"pixel_values": {"min": [1, 3, 64, 64], "opt": [1, 3, 64, 64], "max": [1, 3, 64, 64]}}],
        "preprocessing": RECIPE,
        "source": decoy,
    }
    return _write(tmp_path / "decoy.engine.json", json.dumps(data, indent=1))


def test_reader_is_not_confused_by_key_names_elsewhere(sidecar_probe, tmp_path):
    got = _probe(sidecar_probe, _decoy_sidecar(tmp_path))
    assert got["labels"] == json.loads(_decoy_sidecar(tmp_path).read_text())["labels"]
    assert got["resize_shorter_side"] == 80
    np.testing.assert_allclose(got["mean"], RECIPE["mean"], rtol=1e-7)
    np.testing.assert_allclose(got["std"], RECIPE["std"], rtol=1e-7)


def test_dump_input_follows_the_sidecar_recipe(sample_binary, tmp_path):
    """--dump-input --sidecar applies the recipe under "preprocessing" (not the decoys), as Python does."""
    from nat_export.runtime.preprocess import load_images

    ppm = _random_ppm(tmp_path / "x.ppm", (90, 120))
    ref = load_images([ppm], RECIPE)[0]
    for sidecar in (_decoy_sidecar(tmp_path), _writer_sidecar(tmp_path, RECIPE, ["a", "b"])):
        out = tmp_path / "x.f32"
        r = _dump(sample_binary, ppm, out, (64, 64), sidecar)
        assert r.returncode == 0, r.stderr
        ours = np.fromfile(out, dtype="<f4").reshape(3, 64, 64)
        assert _max_levels(ours, ref, RECIPE["std"]) <= 2.01, sidecar.name


BAD_SIDECARS = [  # (file content, what the one error line must name)
    ('{"format": "nat-export.engine", "format_version": 1, "labels": ["a",', "not valid JSON (parse error at line 1"),
    ("", "not valid JSON"),
    ('["nat-export.engine"]', "the top level must be a JSON object, got array"),
    ('{"format_version": 1}', 'key "format" is missing'),
    ('{"format": "onnx", "format_version": 1}', 'key "format" must be "nat-export.engine", got "onnx"'),
    ('{"format": "nat-export.engine"}', 'key "format_version" is missing'),
    ('{"format": "nat-export.engine", "format_version": "1"}', 'key "format_version" must be 1, got "1"'),
    ('{"format": "nat-export.engine", "format_version": 2}', 'key "format_version" must be 1, got 2'),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": [224]}',
        'key "preprocessing" must be an object, got [224]',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"resize_shorter_side": "256"}}',
        'key "preprocessing.resize_shorter_side" must be a positive integer or null, got "256"',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"resize_shorter_side": 0}}',
        'key "preprocessing.resize_shorter_side" must be a positive integer',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"mean": "imagenet"}}',
        'key "preprocessing.mean" must be an array of 1 or 3 numbers, got "imagenet"',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"mean": [0.5, 0.5]}}',
        'key "preprocessing.mean" must be an array of 1 or 3 numbers, got [0.5,0.5]',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"std": [0.2, 0, 0.2]}}',
        'key "preprocessing.std" must be an array of 1 or 3 positive numbers',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"mean": null}}',
        'key "preprocessing.mean" must be an array of 1 or 3 numbers, got null',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"interpolation": "bilinear"}}',
        'key "preprocessing.interpolation" must be "bicubic"',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "preprocessing": {"scale": 1}}',
        'key "preprocessing.scale" must be 1/255',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "labels": {"0": "cat"}}',
        'key "labels" must be an array of strings, got {"0":"cat"}',
    ),
    (
        '{"format": "nat-export.engine", "format_version": 1, "labels": ["cat", 7, "dog"]}',
        'key "labels[1]" must be a string, got 7',
    ),
]


@pytest.mark.parametrize("text,expected", BAD_SIDECARS, ids=[e for _, e in BAD_SIDECARS])
def test_bad_sidecar_is_one_error_line(sample_binary, tmp_path, text, expected):
    ppm = _random_ppm(tmp_path / "x.ppm", (64, 64))
    sidecar = _write(tmp_path / "m.engine.json", text)
    out = tmp_path / "x.f32"
    r = _dump(sample_binary, ppm, out, (64, 64), sidecar)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"nat_infer: error: sidecar {sidecar}"), r.stderr
    assert expected in r.stderr, r.stderr
    assert not out.exists()  # nothing written
    # The same error when the sidecar is ENGINE.json beside an engine: before the GPU and TensorRT.
    (tmp_path / "m.engine").write_bytes(b"x")
    r2 = subprocess.run(
        [str(sample_binary), str(tmp_path / "m.engine"), str(ppm)], check=False, capture_output=True, text=True
    )
    assert (r2.returncode, r2.stderr) == (1, r.stderr)


def test_valid_sidecar_beside_engine_goes_on_to_the_gpu_check(sample_binary, tmp_path):
    from nat_export.tensorrt import cuda_device_count

    if cuda_device_count() > 0:
        pytest.skip("a GPU is present: the sample would go on to TensorRT")
    sidecar = _decoy_sidecar(tmp_path)
    engine = tmp_path / "decoy.engine"
    engine.write_bytes(b"x")
    ppm = _random_ppm(tmp_path / "x.ppm", (64, 64))
    r = subprocess.run([str(sample_binary), str(engine), str(ppm)], check=False, capture_output=True, text=True)
    assert r.returncode == 1 and "no CUDA GPU is usable" in r.stderr and sidecar.is_file()


# ---------------------------------------------------------------- finding nlohmann/json


def test_cmake_finds_nlohmann_json_by_its_package_config(tmp_path):
    """find_package(nlohmann_json) (as Debian's nlohmann-json3-dev installs it): a config beside the PyPI headers."""
    trt_args = _trt_cmake_args()
    json_inc = _json_include()
    if json_inc is None:
        pytest.skip("needs nlohmann-json (pip install '.[test]')")
    cfg_dir = tmp_path / "share" / "cmake" / "nlohmann_json"
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "nlohmann_jsonConfig.cmake").write_text(
        "if(NOT TARGET nlohmann_json::nlohmann_json)\n"
        "  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)\n"
        f'  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "{json_inc}")\n'
        "endif()\n"
    )
    (cfg_dir / "nlohmann_jsonConfigVersion.cmake").write_text(
        'set(PACKAGE_VERSION "3.12.0")\n'
        "if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)\n  set(PACKAGE_VERSION_COMPATIBLE FALSE)\n"
        "else()\n  set(PACKAGE_VERSION_COMPATIBLE TRUE)\nendif()\n"
    )
    cfg = _configure(tmp_path / "build", *trt_args, f"-Dnlohmann_json_DIR={cfg_dir}")
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    assert f"nlohmann/json from {cfg_dir} (3.12.0)" in cfg.stdout


def test_cmake_says_how_to_get_nlohmann_json(tmp_path):
    trt_args = _trt_cmake_args()
    cfg = _configure(tmp_path / "build", *trt_args)
    if cfg.returncode == 0:
        pytest.skip("nlohmann/json is installed on this machine: " + cfg.stdout.split("nlohmann/json from ")[-1][:80])
    assert "nlohmann/json not found" in cfg.stderr
    assert "nlohmann-json3-dev" in cfg.stderr and "pip install nlohmann-json==3.12.0" in cfg.stderr
    assert "NLOHMANN_JSON_INCLUDE_DIR" in cfg.stderr


def test_cmake_rejects_a_wrong_include_dir(tmp_path):
    trt_args = _trt_cmake_args()
    cfg = _configure(tmp_path / "build", *trt_args, f"-DNLOHMANN_JSON_INCLUDE_DIR={tmp_path}")
    assert cfg.returncode != 0 and "has no nlohmann/json.hpp" in cfg.stderr


# ---------------------------------------------------------------- recipes per checkpoint: HF's exact resize, L images

HF_GRAY_RECIPE = {  # HF's preprocessor_config.json recipe (resize to the input size), for a 1-channel model
    "resize_shorter_side": 64,
    "resize_mode": "exact",
    "interpolation": "bicubic",
    "center_crop": [64, 48],
    "scale": 1 / 255,
    "mean": [0.449],
    "std": [0.226],
    "color": "L",
}


def test_reader_reads_resize_mode_and_color(sidecar_probe, tmp_path):
    got = _probe(sidecar_probe, _writer_sidecar(tmp_path, HF_GRAY_RECIPE, None))
    assert got["exact_resize"] is True and got["channels"] == 1
    got = _probe(sidecar_probe, _writer_sidecar(tmp_path, RECIPE, None))  # written before the fields existed
    assert got["exact_resize"] is False and got["channels"] == 3
    base = '{"format": "nat-export.engine", "format_version": 1, "preprocessing": '
    for bad, key in (('{"resize_mode": "crop"}', "resize_mode"), ('{"color": "CMYK"}', "color")):
        r = subprocess.run(
            [str(sidecar_probe), str(_write(tmp_path / "b.json", base + bad + "}"))], capture_output=True
        )
        assert r.returncode == 1 and f'key "preprocessing.{key}" must be'.encode() in r.stderr


@pytest.mark.parametrize("recipe", [HF_GRAY_RECIPE, {**HF_GRAY_RECIPE, "color": "RGB", "mean": [0.5, 0.4, 0.3]}])
def test_dump_input_exact_resize_and_gray_match_python(sample_binary, tmp_path, recipe):
    from nat_export.runtime.preprocess import load_images

    ppm = _random_ppm(tmp_path / "x.ppm", (90, 120))
    ref = load_images([ppm], recipe)[0]
    out = tmp_path / "x.f32"
    r = _dump(sample_binary, ppm, out, (64, 48), _writer_sidecar(tmp_path, recipe, None))
    assert r.returncode == 0, r.stderr
    c = 1 if recipe["color"] == "L" else 3
    ours = np.fromfile(out, dtype="<f4").reshape(c, 64, 48)
    assert ref.shape == ours.shape
    assert _max_levels(ours, ref, recipe["std"] * (c // len(recipe["std"]))) <= 2.01


# ---------------------------------------------------------------- float16 / bfloat16 engines

CONVERT_PROBE = Path(__file__).resolve().parent / "convert_probe.cpp"


@pytest.fixture(scope="module")
def convert_probe(tmp_path_factory) -> Path:
    """tests/samples/convert_probe.cpp + the sample's host conversions (common/tensors.cpp)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found")
    lens = _pkg_dir("kernel_lens")
    inc = lens / "include" / "tensorrt" if lens else None
    if inc is None or not (inc / "NvInferRuntime.h").is_file():
        pytest.skip("needs the TensorRT headers (pip install kernel-lens)")
    nvcc = _nvcc()
    cands = [Path(nvcc).resolve().parents[1] / "include"] if nvcc else []
    cands += [Path("/usr/local/cuda/include"), *sorted(Path("/usr/local").glob("cuda-*/include"))]
    cuda_inc = next((c for c in cands if (c / "cuda_runtime_api.h").is_file()), None)
    if cuda_inc is None:
        pytest.skip("needs the CUDA headers (NvInferRuntime.h includes cuda_runtime_api.h)")
    exe = tmp_path_factory.mktemp("convert") / "convert_probe"
    cmd = ["g++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{SAMPLE}", "-isystem", str(inc)]
    cmd += ["-isystem", str(cuda_inc), str(CONVERT_PROBE), str(SAMPLE / "common" / "tensors.cpp"), "-o", str(exe)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def _bf16_bits(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    out = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    out[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def test_host_conversions_match_numpy(convert_probe, tmp_path):
    """The sample feeds float16 / bfloat16 engine inputs and reads such logits: its conversions round
    to nearest even like numpy (float16) and like the bfloat16 rule, including ties, subnormals,
    overflow to inf, inf and NaN, and convert back exactly."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1.0, -2.5, 65504.0, 65520.0, 65519.99, 1e6, -1e6, 6e-8, 3e-8, 2.98e-8, 1e-9, 6.1e-5]
    special += [np.inf, -np.inf, np.nan, 1.0009765625, 1.00048828125, 1.000732421875, 3.4e38]
    ties = (np.arange(1, 2049, dtype=np.float32) * np.float32(2**-24) * 1.5).tolist()  # subnormal ties
    x = np.concatenate(
        [
            np.array(special + ties, dtype=np.float32),
            rng.standard_normal(5000).astype(np.float32) * np.float32(100),
            rng.standard_normal(2000).astype(np.float32) * np.float32(1e-5),
            rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32),  # every bit pattern
        ]
    )
    src = tmp_path / "in.f32"
    x.tofile(src)
    r = subprocess.run([str(convert_probe), str(src), str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float16", "0"]
    half = np.fromfile(tmp_path / "out.f16", dtype=np.uint16)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    finite = ~np.isnan(x)
    assert np.array_equal(half[finite], want.view(np.uint16)[finite])
    assert np.isnan(half[~finite].view(np.float16)).all()
    back = np.fromfile(tmp_path / "out.f16.f32", dtype=np.float32)
    assert np.array_equal(back[finite], want.astype(np.float32)[finite]) and np.isnan(back[~finite]).all()
    bf = np.fromfile(tmp_path / "out.bf16", dtype=np.uint16)
    assert np.array_equal(bf, _bf16_bits(x))
    back = np.fromfile(tmp_path / "out.bf16.f32", dtype=np.float32)
    assert np.array_equal(back.view(np.uint32), bf.astype(np.uint32) << 16)
    assert np.array_equal(np.fromfile(tmp_path / "out.f32.f32", dtype=np.float32).view(np.uint32), x.view(np.uint32))
