"""Build the native plugins (``plugins/``) with CMake.

``nat-export build-plugins`` is wired to :func:`add_arguments` / :func:`run`; Python code
calls :func:`build_plugins`. Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import NativeBuildError
from .libs import LIB_NAMES, default_plugin_dir

# SASS for Turing .. Hopper, Jetson Orin (87) included, and PTX of sm_90 (the plain "90") that newer GPUs
# (sm_100, sm_120) JIT-compile.
DEFAULT_CUDA_ARCHS = "75-real;80-real;86-real;87-real;89-real;90"
PROJECT = "nat_export_plugins"  # plugins/CMakeLists.txt's project(): a build folder of any other is never removed
ORT_DEB_PACKAGE = "libonnxruntime-dev"
ORT_DEB_SUITE = "trixie"  # Debian 13: the first release whose libonnxruntime-dev carries the C/C++ headers
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def plugins_source_dir() -> Path:
    """``<repo>/plugins``: the CMake project."""
    return Path(__file__).resolve().parents[2] / "plugins"


def ort_headers_cache() -> Path:
    return Path.home() / ".cache" / "nat-export" / "onnxruntime-headers"


# ---------------------------------------------------------------- header discovery


def _ort_ok(d: Path) -> bool:
    return (d / "onnxruntime_cxx_api.h").is_file() and (d / "onnxruntime_c_api.h").is_file()


def find_trt_include(explicit: str | None = None) -> tuple[Path | None, str]:
    """(TensorRT include dir or None, where it came from / why none)."""
    if explicit:
        d = Path(explicit).expanduser()
        if not (d / "NvInfer.h").is_file():
            raise NativeBuildError(
                f"no NvInfer.h in --trt-include {d}; pass the 'include' folder of your TensorRT install"
            )
        return d, "--trt-include"
    env_root = os.environ.get("TensorRT_ROOT")
    if env_root and (Path(env_root) / "include" / "NvInfer.h").is_file():
        return Path(env_root) / "include", "TensorRT_ROOT"
    env_inc = os.environ.get("TRT_INCLUDE_DIR")
    if env_inc and (Path(env_inc) / "NvInfer.h").is_file():
        return Path(env_inc), "TRT_INCLUDE_DIR"
    for d in (Path("/usr/include/x86_64-linux-gnu"), Path("/usr/include/aarch64-linux-gnu"), Path("/usr/include")):
        if (d / "NvInfer.h").is_file():
            return d, "system"
    spec = importlib.util.find_spec("kernel_lens")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            d = Path(loc) / "include" / "tensorrt"
            if (d / "NvInfer.h").is_file():
                return d, "kernel_lens wheel (TensorRT 10.14 headers)"
    return None, "no TensorRT headers found (set TensorRT_ROOT or TRT_INCLUDE_DIR, or pip install kernel-lens==2.0.1)"


def find_ort_include(
    explicit: str | None = None, fetch: bool = False, verbose: bool = False
) -> tuple[Path | None, str]:
    """(ONNX Runtime include dir or None, where it came from / why none)."""
    if explicit:
        d = Path(explicit).expanduser()
        if not _ort_ok(d):
            raise NativeBuildError(
                f"no onnxruntime_cxx_api.h in --ort-include {d}; pass the folder holding the ONNX Runtime C/C++ headers"
            )
        return d, "--ort-include"
    for var in ("ORT_INCLUDE_DIR", "ONNXRUNTIME_ROOT"):
        val = os.environ.get(var)
        if not val:
            continue
        base = Path(val).expanduser()
        for d in (base, base / "include", base / "include" / "onnxruntime"):
            if _ort_ok(d):
                return d, var
    for d in (Path("/usr/include/onnxruntime"), Path("/usr/local/include/onnxruntime")):
        if _ort_ok(d):
            return d, "system"
    cached = ort_headers_cache() / "include" / "onnxruntime"
    if _ort_ok(cached):
        return cached, f"cache {ort_headers_cache()}"
    if fetch:
        return fetch_ort_headers(verbose=verbose), f"downloaded Debian {ORT_DEB_SUITE} {ORT_DEB_PACKAGE}"
    return None, (
        "no ONNX Runtime headers found (set ORT_INCLUDE_DIR, or run "
        "`nat-export build-plugins --fetch-ort-headers` to download them from Debian)"
    )


def fetch_ort_headers(dest: Path | None = None, verbose: bool = False) -> Path:
    """Download Debian's libonnxruntime-dev with a private apt config and unpack its headers.

    Returns ``<dest>/include/onnxruntime`` (dest defaults to the headers cache).
    """
    dest = Path(dest) if dest else ort_headers_cache()
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise NativeBuildError(
                f"cannot download ONNX Runtime headers: {tool} not found (not a Debian-like system); "
                f"set ORT_INCLUDE_DIR to the include folder of an ONNX Runtime release instead"
            )
    if not Path(DEBIAN_KEYRING).is_file():
        raise NativeBuildError(
            f"cannot download ONNX Runtime headers: {DEBIAN_KEYRING} missing; "
            f"apt-get install debian-archive-keyring, or set ORT_INCLUDE_DIR"
        )
    with tempfile.TemporaryDirectory(prefix="natx-apt-") as tmp:
        t = Path(tmp)
        (t / "sources.list.d").mkdir()
        (t / "lists" / "partial").mkdir(parents=True)
        (t / "cache" / "archives" / "partial").mkdir(parents=True)
        (t / "sources.list").write_text(
            f"deb [signed-by={DEBIAN_KEYRING}] http://deb.debian.org/debian {ORT_DEB_SUITE} main\n"
        )
        opts = [
            "-o",
            f"Dir::Etc::sourcelist={t / 'sources.list'}",
            "-o",
            f"Dir::Etc::sourceparts={t / 'sources.list.d'}",
            "-o",
            f"Dir::State::Lists={t / 'lists'}",
            "-o",
            f"Dir::Cache={t / 'cache'}",
            "-o",
            "Debug::NoLocking=1",
        ]
        _run(["apt-get", *opts, "update"], "apt-get update (Debian package index)", cwd=t, verbose=verbose)
        _run(
            ["apt-get", *opts, "download", ORT_DEB_PACKAGE],
            f"apt-get download {ORT_DEB_PACKAGE}",
            cwd=t,
            verbose=verbose,
        )
        debs = sorted(t.glob(f"{ORT_DEB_PACKAGE}_*.deb"))
        if not debs:
            raise NativeBuildError(f"apt-get download {ORT_DEB_PACKAGE} produced no .deb; set ORT_INCLUDE_DIR instead")
        _run(["dpkg-deb", "-x", str(debs[0]), str(t / "x")], "dpkg-deb -x", cwd=t, verbose=verbose)
        src = t / "x" / "usr" / "include" / "onnxruntime"
        if not _ort_ok(src):
            raise NativeBuildError(f"{debs[0].name} holds no onnxruntime_cxx_api.h; set ORT_INCLUDE_DIR instead")
        # Atomic: copy next to the cache, then rename into place.
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest))
        shutil.copytree(src, staging / "onnxruntime")
        final = dest / "include"
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        (dest / "SOURCE").write_text(f"{debs[0].name} from Debian {ORT_DEB_SUITE}\n")
    return dest / "include" / "onnxruntime"


# ---------------------------------------------------------------- build


def _run(cmd: list[str], what: str, cwd: Path | None = None, verbose: bool = False, log: Path | None = None) -> str:
    """Run a command; return its output; raise NativeBuildError naming `what` on failure."""
    if verbose:
        print("+", " ".join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    except OSError as e:
        raise NativeBuildError(f"{what}: cannot run {cmd[0]} ({e}); install it or put it on PATH") from e
    out = proc.stdout or ""
    if log is not None:
        with open(log, "a", encoding="utf-8") as f:
            f.write("$ " + " ".join(cmd) + "\n" + out + "\n")
    if verbose and out:
        print(out, end="" if out.endswith("\n") else "\n", flush=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        errs = [ln for ln in lines if re.search(r"error|Error|ERROR|fatal", ln)]
        detail = (errs or lines or ["no output"])[0][:300]
        where = f"; the full log is {log}" if log else "; run with -v for the full output"
        raise NativeBuildError(f"{what} failed (exit {proc.returncode}): {detail}{where}")
    return out


_TRT_WHEEL = re.compile(r"tensorrt[-_](?:lean[-_]|dispatch[-_])?cu(\d+)(?:[-_](?:libs|bindings))?", re.I)


def installed_trt_cuda_major() -> tuple[int | None, str]:
    """The CUDA major the installed TensorRT wheels are built for (``tensorrt-cuNN``, ``tensorrt-lean-cuNN-libs``,
    ...), and the wheel that says so; ``(None, why)`` when none is installed (system / tar TensorRT, or headers
    only: nothing to match). Two CUDA majors at once are an error."""
    import importlib.metadata

    found: dict[int, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name") or ""
        m = _TRT_WHEEL.fullmatch(name)
        if m:
            found.setdefault(int(m.group(1)), f"{name} {dist.version}")
    if not found:
        return None, "no TensorRT wheel (tensorrt-cuNN) installed"
    if len(found) > 1:
        raise NativeBuildError(
            "TensorRT wheels for CUDA "
            + " and ".join(f"{k} ({v})" for k, v in sorted(found.items()))
            + " are installed; uninstall the ones for the CUDA you do not use"
        )
    ((major, wheel),) = found.items()
    return major, wheel


def nvcc_version(nvcc: str) -> tuple[int, int] | None:
    """(major, minor) from ``nvcc --version``; None when it does not run or say."""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+)\.(\d+)", out or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def nvcc_candidates() -> list[str]:
    """Every nvcc found, in order of preference: $CUDACXX, PATH, $CUDA_HOME, /usr/local/cuda, /usr/local/cuda-*
    (newest first); duplicates (the same file by another path) dropped."""
    cands = [os.environ.get("CUDACXX"), shutil.which("nvcc")]
    cands += [str(Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc")] if os.environ.get("CUDA_HOME") else []
    cands += ["/usr/local/cuda/bin/nvcc"]
    versioned = [str(p) for p in Path("/usr/local").glob("cuda-*/bin/nvcc")]
    versioned.sort(key=lambda p: [int(x) for x in re.findall(r"\d+", Path(p).parts[-3])], reverse=True)
    out, seen = [], set()
    for c in cands + versioned:
        if not c or not Path(c).is_file():
            continue
        key = _real_nvcc(c)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _real_nvcc(path: str) -> str:
    """The nvcc a wrapper script (``exec /usr/local/cuda-13.0/bin/nvcc "$@"``) runs, else the path itself."""
    p = Path(path).resolve()
    try:
        if p.stat().st_size < 4096:
            m = re.search(r"exec\s+(\S*nvcc)\b", p.read_text(errors="replace"))
            if m and Path(m.group(1)).is_file():
                return str(Path(m.group(1)).resolve())
    except OSError:
        pass
    return str(p)


def choose_nvcc(trt_cuda_major: int | None, trt_wheel: str = "", candidates: list[str] | None = None):
    """``(nvcc, (major, minor))`` to build with: the first candidate whose CUDA major is the installed TensorRT's
    (the plugin links the CUDA runtime statically, and a runtime newer than the driver TensorRT's users have
    fails at the first launch); with no TensorRT wheel to match, the first one. ``(None, None)`` without nvcc.
    Raises NativeBuildError (one line) when nvcc exists but none matches."""
    cands = nvcc_candidates() if candidates is None else candidates
    versions = [(c, nvcc_version(c)) for c in cands]
    versions = [(c, v) for c, v in versions if v is not None]
    if not versions:
        return None, None
    if trt_cuda_major is None:
        return versions[0]
    for c, v in versions:
        if v[0] == trt_cuda_major:
            return c, v
    have = ", ".join(f"CUDA {v[0]}.{v[1]} ({c})" for c, v in versions)
    raise NativeBuildError(
        f"the installed TensorRT ({trt_wheel}) is built for CUDA {trt_cuda_major}, but the only nvcc found is {have}; "
        f"install the CUDA {trt_cuda_major} toolkit and set CUDACXX=/usr/local/cuda-{trt_cuda_major}.x/bin/nvcc, "
        f"or install the TensorRT wheel for your CUDA (e.g. pip install tensorrt-cu{versions[0][1][0]})"
    )


def plugin_build_info(library: str | Path) -> dict | None:
    """What a TensorRT plugin library was built with, as recorded in it (``natx-build: key=value ...``:
    cuda-runtime, nvcc, archs, trt-headers); None when the file has no such record (an older build)."""
    try:
        data = Path(library).read_bytes()
    except OSError:
        return None
    i = data.find(b"natx-build: ")
    if i < 0:
        return None
    end = data.find(b"\0", i)
    text = data[i + len(b"natx-build: ") : end if end > 0 else None].decode(errors="replace")
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def _cache_value(cache: Path, key: str) -> str | None:
    if not cache.is_file():
        return None
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith(key + ":"):
            return line.split("=", 1)[1]
    return None


def build_plugins(
    out_dir: Path | None = None,
    *,
    trt_include: str | None = None,
    ort_include: str | None = None,
    cuda_archs: str | None = None,
    fetch_ort_headers: bool = False,
    build_tests: bool = False,
    jobs: int | None = None,
    verbose: bool = False,
) -> dict[str, Path]:
    """Configure and build ``plugins/``; return the built libraries by kind.

    Keys: 'ort', 'trt', 'trt_autoreg' -- only the ones built (an adapter builds when its
    headers are found). The libraries land in `out_dir` (default ``$NAT_EXPORT_PLUGIN_DIR``
    or ``~/.cache/nat-export/plugins``), the CMake build tree in ``out_dir/build``.
    `build_tests` also builds the test libraries and programs (CMake ``NATX_BUILD_TESTS``) into
    the build tree; ``tests/native`` needs them, users do not.
    """
    if jobs is not None and jobs < 1:
        raise NativeBuildError(f"--jobs must be >= 1, got {jobs}; e.g. --jobs 4, or leave it out (the CPU count)")
    if cuda_archs is not None and not re.fullmatch(
        r"(all|all-major|native|\d+[af]?(-real|-virtual)?)([;,]\d+[af]?(-real|-virtual)?)*", cuda_archs
    ):
        raise NativeBuildError(
            f"--cuda-archs {cuda_archs!r} is not a list of CUDA architectures; e.g. --cuda-archs 86 or '80;90'"
        )
    out = Path(out_dir).expanduser() if out_dir is not None else default_plugin_dir()
    out = out.resolve()
    bdir = out / "build"
    for folder in (out, bdir):
        if folder.exists() and not folder.is_dir():
            raise NativeBuildError(f"{folder} is not a folder; give --out-dir a folder (new or nat-export's own)")
    cache = bdir / "CMakeCache.txt"
    if cache.is_file() and _cache_value(cache, "CMAKE_PROJECT_NAME") != PROJECT:
        raise NativeBuildError(
            f"{bdir} holds the build of another CMake project ({_cache_value(cache, 'CMAKE_HOME_DIRECTORY')}); "
            "choose another --out-dir"
        )
    src = plugins_source_dir()
    if not (src / "CMakeLists.txt").is_file():
        raise NativeBuildError(f"plugin sources not found at {src}; build from a source checkout of nat-export")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise NativeBuildError("cmake not found; install CMake >= 3.18 (apt-get install cmake, or pip install cmake)")
    if shutil.which("c++") is None and shutil.which("g++") is None and not os.environ.get("CXX"):
        raise NativeBuildError("no C++ compiler found; install g++ (apt-get install g++) or set CXX")

    bdir.mkdir(parents=True, exist_ok=True)
    log = bdir / "build.log"
    log.write_text("")

    trt_dir, trt_why = find_trt_include(trt_include)
    ort_dir, ort_why = find_ort_include(ort_include, fetch=fetch_ort_headers, verbose=verbose)
    if trt_dir is None and ort_dir is None and not build_tests:  # checked before a minute of compiling
        raise NativeBuildError(
            f"no adapter can be built: TensorRT headers: {trt_why}; ONNX Runtime headers: {ort_why}"
            + ("" if fetch_ort_headers else " (or pass --fetch-ort-headers)")
        )

    trt_cuda, trt_wheel = installed_trt_cuda_major() if trt_dir is not None else (None, "")
    nvcc, nvcc_ver = choose_nvcc(trt_cuda, trt_wheel)

    generator = "Ninja" if shutil.which("ninja") else "Unix Makefiles"
    old_gen = _cache_value(cache, "CMAKE_GENERATOR")
    old_src = _cache_value(cache, "CMAKE_HOME_DIRECTORY")
    old_nvcc = _cache_value(cache, "CMAKE_CUDA_COMPILER")
    if (
        (old_gen and old_gen != generator)
        or (old_src and Path(old_src).resolve() != src.resolve())
        or (old_nvcc and nvcc and old_nvcc not in ("CMAKE_CUDA_COMPILER-NOTFOUND", nvcc))
    ):
        shutil.rmtree(bdir)
        bdir.mkdir(parents=True)
        log.write_text("")

    args = [
        cmake,
        "-S",
        str(src),
        "-B",
        str(bdir),
        "-G",
        generator,
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out}",
        f"-DNATX_TRT_INCLUDE_DIR={trt_dir or ''}",
        f"-DNATX_ORT_INCLUDE_DIR={ort_dir or ''}",
        f"-DCMAKE_CUDA_ARCHITECTURES={cuda_archs or DEFAULT_CUDA_ARCHS}",
        f"-DNATX_BUILD_TESTS={'ON' if build_tests else 'OFF'}",
    ]
    if nvcc:
        args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
        args.append(f"-DNATX_NVCC_RECORD={_real_nvcc(nvcc)}")
    # Stale outputs must not pass for fresh ones: remove them so the build relinks.
    for name in LIB_NAMES.values():
        (out / name).unlink(missing_ok=True)

    conf = _run(args, "cmake configure", verbose=verbose, log=log)
    n = jobs or os.cpu_count() or 2
    _run([cmake, "--build", str(bdir), "--parallel", str(n)], "cmake build", verbose=verbose, log=log)

    status = [ln.split("natx:", 1)[1].strip() for ln in conf.splitlines() if "natx:" in ln]
    for line in status:
        print(line, flush=True)
    if trt_dir is None:
        print(f"TensorRT headers: {trt_why}", flush=True)
    else:
        print(f"TensorRT headers: {trt_dir} ({trt_why})", flush=True)
    if nvcc:
        match = f"matches {trt_wheel}" if trt_cuda is not None else trt_wheel or "no TensorRT wheel to match"
        print(f"CUDA: nvcc {nvcc_ver[0]}.{nvcc_ver[1]} ({nvcc}; {match})", flush=True)
    if ort_dir is None:
        print(f"ONNX Runtime headers: {ort_why}", flush=True)
    else:
        print(f"ONNX Runtime headers: {ort_dir} ({ort_why})", flush=True)

    built = {kind: out / name for kind, name in LIB_NAMES.items() if (out / name).is_file()}
    for kind, path in built.items():
        print(f"built {kind}: {path}", flush=True)
    return built


# ---------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `build-plugins` options to `parser`."""
    parser.description = parser.description or (
        "Build the native plugins: the ONNX Runtime custom-op library (CPU) and, where TensorRT "
        "headers and CUDA are found, the TensorRT plugin libraries."
    )
    parser.epilog = parser.epilog or (
        "examples:\n"
        "  nat-export build-plugins --fetch-ort-headers\n"
        "  nat-export build-plugins --trt-include /opt/TensorRT/include --cuda-archs 86\n"
        "  TensorRT_ROOT=/opt/TensorRT nat-export build-plugins --out-dir ./plugins-out --json\n"
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the libraries go (default: $NAT_EXPORT_PLUGIN_DIR or ~/.cache/nat-export/plugins)",
    )
    parser.add_argument(
        "--trt-include",
        default=None,
        metavar="DIR",
        help="TensorRT include folder (default: TensorRT_ROOT, TRT_INCLUDE_DIR, system, kernel-lens wheel)",
    )
    parser.add_argument(
        "--ort-include",
        default=None,
        metavar="DIR",
        help="ONNX Runtime include folder (default: ORT_INCLUDE_DIR, ONNXRUNTIME_ROOT, system, cache)",
    )
    parser.add_argument(
        "--fetch-ort-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="download the ONNX Runtime headers from Debian (libonnxruntime-dev) if none are found (default: on)",
    )
    parser.add_argument(
        "--build-tests",
        action="store_true",
        help="also build the test libraries and programs into <out-dir>/build (for tests/native)",
    )
    parser.add_argument(
        "--cuda-archs",
        default=None,
        metavar="ARCHS",
        help=f"CUDA architectures, e.g. '86' or '80;90' (default: {DEFAULT_CUDA_ARCHS})",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, metavar="N", help="parallel build jobs (default: CPU count)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the CMake and compiler output")
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="FILE", help="write the built libraries as JSON to FILE ('-': stdout)"
    )
    return parser


def run(args: argparse.Namespace, raise_errors: bool = False) -> int:
    """Run `build-plugins` from parsed arguments; returns the exit code (``raise_errors``: NativeBuildError
    propagates, for the CLI's own error path)."""
    import contextlib

    # With --json, stdout carries only the JSON; progress lines go to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if getattr(args, "json", False) else contextlib.nullcontext()
    try:
        with redirect:
            built = build_plugins(
                getattr(args, "out_dir", None),
                trt_include=getattr(args, "trt_include", None),
                ort_include=getattr(args, "ort_include", None),
                cuda_archs=getattr(args, "cuda_archs", None),
                fetch_ort_headers=getattr(args, "fetch_ort_headers", False),
                build_tests=getattr(args, "build_tests", False),
                jobs=getattr(args, "jobs", None),
                verbose=getattr(args, "verbose", False),
            )
    except NativeBuildError as e:
        if raise_errors:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    if getattr(args, "json", None):
        text = json.dumps({k: str(v) for k, v in built.items()})
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if not built:
        if raise_errors:
            return 1
        print("error: no plugin library was built (see the lines above for why)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m nat_export.native.build"))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
