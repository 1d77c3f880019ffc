"""The serving environment: PyTriton in a virtual environment of its own, and the libpython its stub needs.

PyTriton 0.7 (``nvidia-pytriton``: its wheel bundles ``tritonserver`` 2.51 and the python backend) needs
``numpy<2``; nat-export's own environment usually has numpy 2. So ``nat-export serve`` runs the server in a
virtual environment made for it, once, by :func:`ensure_env` (``nat-export serve --setup``):

- where: ``$NAT_EXPORT_SERVE_ENV`` when set (any virtual environment with ``nvidia-pytriton``, used as it is),
  else ``~/.cache/nat-export/serve-env/<key>``, the key naming the Python, the PyTriton version and a hash of
  the requirements (so another ONNX Runtime or Python gets another environment, and nothing is rebuilt twice);
- what: :func:`requirements`: ``nvidia-pytriton``, ``numpy<2``, and the ONNX Runtime, onnx and Polygraphy
  versions of this environment (the served model runs on the same ONNX Runtime as ``nat-export infer``);
- nat-export itself is not installed there: the worker imports this very package through a folder holding only
  a link to it (:func:`package_link_dir`), so nothing of this environment's site-packages (numpy 2) leaks in.

Triton's python backend runs a stub executable (``triton_python_backend_stub``) linked against
``libpython3.X.so.1.0``, found by the dynamic loader: on a machine whose Python is not the system's (pyenv,
a python.org build, conda) that is the system's libpython, another patch release, and the stub fails
(``'_thread.RLock' object has no attribute '_recursion_count'``). :func:`stub_environment` puts this
interpreter's libpython folder first on ``LD_LIBRARY_PATH`` for the server, and :func:`check_stub_libpython`
proves with ``ldd`` that the stub now resolves to it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from . import ServingError

__all__ = [
    "ENV_VAR",
    "PYTRITON_VERSION",
    "check_stub_libpython",
    "default_env_dir",
    "ensure_env",
    "env_dir",
    "env_python",
    "libpython_dir",
    "package_link_dir",
    "pytriton_here",
    "requirements",
    "stub_environment",
]

PYTRITON_VERSION = "0.7.0"
ENV_VAR = "NAT_EXPORT_SERVE_ENV"
MARKER = "nat-export-serve-env.json"
SETUP = "nat-export serve --setup"


def _installed(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def requirements() -> list[str]:
    """What the serving environment installs (pip requirement strings): PyTriton, numpy<2, and this
    environment's ONNX Runtime / onnx / Polygraphy versions (unpinned when absent here)."""
    reqs = [f"nvidia-pytriton=={PYTRITON_VERSION}", "numpy<2"]
    for dist in ("onnxruntime", "onnx", "polygraphy"):
        v = _installed(dist)
        reqs.append(f"{dist}=={v}" if v else dist)
    return reqs


def default_env_dir() -> Path:
    """``~/.cache/nat-export/serve-env/py3.X-pytriton<ver>-<hash>``: keyed by the interpreter and requirements."""
    key = json.dumps([sys.version, os.path.realpath(sys.base_prefix), requirements()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    tag = f"py{sys.version_info.major}.{sys.version_info.minor}-pytriton{PYTRITON_VERSION}-{digest}"
    return Path.home() / ".cache" / "nat-export" / "serve-env" / tag


def env_dir() -> Path:
    """``$NAT_EXPORT_SERVE_ENV`` when set, else :func:`default_env_dir`."""
    given = os.environ.get(ENV_VAR)
    return Path(given).expanduser() if given else default_env_dir()


def env_python(path: Path) -> Path:
    return path / "bin" / "python"


def pytriton_here() -> bool:
    """Whether PyTriton imports in this interpreter (with the numpy<2 it needs): then no other environment."""
    from importlib.util import find_spec

    if find_spec("pytriton") is None:
        return False
    v = _installed("numpy") or "0"
    return int(v.split(".")[0]) < 2


def _run(cmd: list, what: str, verbose: bool, timeout: float = 1800) -> None:
    try:
        proc = subprocess.run(
            [str(c) for c in cmd],
            stdout=None if verbose else subprocess.PIPE,
            stderr=subprocess.STDOUT if not verbose else None,
            text=True,
            timeout=timeout,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"},
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ServingError(f"{what} could not run ({e}); check the Python installation, then `{SETUP}`") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stdout or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR") or "error" in ln.lower()]
        why = (errors or lines or [f"exit code {proc.returncode}"])[-1][:300]
        raise ServingError(
            f"{what} failed: {why}; check that PyPI is reachable (or set {ENV_VAR} to a virtual environment that "
            f"has nvidia-pytriton=={PYTRITON_VERSION} and numpy<2), then run `{SETUP}` again"
        )


def _marker(path: Path) -> dict | None:
    try:
        data = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ensure_env(*, create: bool = True, verbose: bool = False, log=None) -> Path:
    """The serving environment's python, made first when missing (about 500 MB from PyPI, half a minute here).

    ``$NAT_EXPORT_SERVE_ENV`` is used as it is (never created or changed): its python must import pytriton.
    The default one is created under a file lock (two processes never build it at once), completed by a marker
    file written last; an incomplete one (interrupted) is removed and made again.

    Args:
        create: make the default environment when it is missing (else: raise).
        log: ``log(text)`` for the one line saying what is being made.

    Raises:
        ServingError: the environment is missing (``create=False``), cannot be made (no ``venv``, pip fails),
            or ``$NAT_EXPORT_SERVE_ENV`` is not a virtual environment with PyTriton.
    """
    given = os.environ.get(ENV_VAR)
    if given:
        path = Path(given).expanduser()
        py = env_python(path)
        if not py.is_file():
            raise ServingError(
                f"{ENV_VAR}={given} is not a virtual environment ({py} is missing); unset it to let nat-export make "
                f"its own (`{SETUP}`), or point it at one made with `python3 -m venv DIR && "
                f"DIR/bin/python -m pip install nvidia-pytriton=={PYTRITON_VERSION} 'numpy<2' onnxruntime onnx "
                "polygraphy`"
            )
        probe = subprocess.run(
            [str(py), "-c", "import pytriton, numpy, onnxruntime, onnx, polygraphy"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["import failed"])[-1][:200]
            raise ServingError(
                f"{ENV_VAR}={given} cannot serve ({last}); install there: {py} -m pip install "
                f"nvidia-pytriton=={PYTRITON_VERSION} 'numpy<2' onnxruntime onnx polygraphy"
            )
        return py
    path = default_env_dir()
    if _marker(path) is not None and env_python(path).is_file():
        return env_python(path)
    if not create:
        raise ServingError(
            f"the serving environment is not set up ({path} is missing): PyTriton needs numpy<2, so it lives in an "
            f"environment of its own; run `{SETUP}` once (about 500 MB from PyPI)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making it: wait for it
        if _marker(path) is not None and env_python(path).is_file():
            return env_python(path)
        if path.exists():
            shutil.rmtree(path)  # an interrupted earlier attempt
        if log is not None:
            log(
                f"making the serving environment {path} (once: nvidia-pytriton {PYTRITON_VERSION} with numpy<2, "
                "about 500 MB from PyPI)"
            )
        start = time.perf_counter()
        try:
            _run([sys.executable, "-m", "venv", path], "python -m venv", verbose)
            py = env_python(path)
            _run([py, "-m", "pip", "install", "--no-input", *requirements()], "pip install", verbose)
            _run([py, "-c", "import pytriton, numpy, onnxruntime, onnx, polygraphy"], "the new environment", verbose)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        info = {
            "requirements": requirements(),
            "python": sys.version,
            "base_prefix": sys.base_prefix,
            "seconds": round(time.perf_counter() - start, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (path / MARKER).write_text(json.dumps(info, indent=1) + "\n")
    return env_python(path)


def package_link_dir(where: Path) -> Path:
    """A folder in ``where`` holding only a link named ``nat_export`` to this package: on ``PYTHONPATH`` it lets
    another environment import this nat-export and nothing else of this environment."""
    pkg = Path(__file__).resolve().parents[1]
    where.mkdir(parents=True, exist_ok=True)
    link = where / "nat_export"
    if not link.exists():
        link.symlink_to(pkg, target_is_directory=True)
    return where


# ---------------------------------------------------------------- libpython for the python backend stub


def libpython_dir() -> Path:
    """The folder holding this interpreter's shared ``libpython3.X.so.1.0``.

    Raises:
        ServingError: the interpreter was built without a shared libpython (``--enable-shared``), which the
            stub links against.
    """
    soname = (
        sysconfig.get_config_var("INSTSONAME") or f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"
    )
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not str(soname).startswith("libpython"):
        raise ServingError(
            f"this Python ({sys.executable}, {sys.version.split()[0]}) has no shared libpython, which Triton's "
            "python backend stub links against; make the serving environment with a Python built with "
            "--enable-shared (the distribution's python3, or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared)"
        )
    libdir = Path(sysconfig.get_config_var("LIBDIR") or sys.base_prefix + "/lib")
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = [
        libdir,
        libdir / multiarch,
        Path(sysconfig.get_config_var("LIBPL") or libdir),
        Path(sys.base_prefix) / "lib",
    ]
    for d in candidates:
        if (d / soname).is_file():
            return d
    raise ServingError(
        f"{soname} of this Python ({sys.executable}) is not in {', '.join(str(c) for c in candidates)}; reinstall "
        "Python with its shared library, or make the serving environment with another Python"
    )


def stub_environment(environ: dict | None = None) -> dict:
    """``environ`` (default ``os.environ``) with this interpreter's libpython folder first on ``LD_LIBRARY_PATH``.

    Raises:
        ServingError: see :func:`libpython_dir`.
    """
    env = dict(os.environ if environ is None else environ)
    first = str(libpython_dir())
    rest = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p and p != first]
    env["LD_LIBRARY_PATH"] = ":".join([first, *rest])
    return env


def stub_path() -> Path | None:
    """PyTriton's python backend stub for this Python version, or None when PyTriton has none."""
    import pytriton

    stub = (
        Path(pytriton.__file__).parent
        / "tritonserver"
        / "python_backend_stubs"
        / f"{sys.version_info.major}.{sys.version_info.minor}"
        / "triton_python_backend_stub"
    )
    return stub if stub.is_file() else None


def check_stub_libpython(env: dict) -> Path | None:
    """Which libpython the stub resolves to under ``env`` (by ``ldd``); None when ``ldd`` is not there.

    Raises:
        ServingError: PyTriton has no stub for this Python, or the stub resolves to another libpython.
    """
    stub = stub_path()
    if stub is None:
        raise ServingError(
            f"PyTriton {PYTRITON_VERSION} has no python backend stub for Python "
            f"{sys.version_info.major}.{sys.version_info.minor}; make the serving environment with Python 3.8-3.13"
        )
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    proc = subprocess.run([ldd, str(stub)], capture_output=True, text=True, env=env)
    hit = re.search(r"(libpython\S+)\s*=>\s*(\S+)", proc.stdout)
    want = libpython_dir() / (sysconfig.get_config_var("INSTSONAME") or "")
    if hit is None or hit.group(2) == "not" or os.path.realpath(hit.group(2)) != os.path.realpath(want):
        got = hit.group(2) if hit else "nothing"
        raise ServingError(
            f"Triton's python backend stub would load {got}, not this Python's {want}; unset LD_PRELOAD / "
            "LD_LIBRARY_PATH entries that point at another libpython"
        )
    return Path(hit.group(2))
