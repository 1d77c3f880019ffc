"""``nat-export serve``: one model on a real Triton Inference Server, through PyTriton.

The flow:

1. :func:`prepare` (this process): read the model file (:func:`~.triton_repo.describe_model`: names, types,
   dims, batch range, op library / plugin), check the ports are free, and fix everything the server needs in a
   :class:`ServeSpec` (plain JSON).
2. :func:`serve` runs :func:`run_server` here when PyTriton imports here (``pip install nvidia-pytriton`` in an
   environment with numpy<2), else in the serving environment (:mod:`.env`) as ``python -m
   nat_export.serving.worker SPEC.json``, whose output goes straight to this terminal. Ctrl-C (SIGINT) or SIGTERM
   here is passed on as one SIGINT; the worker stops Triton and exits; anything left of its process group is
   then ended.
3. :func:`run_server` (where PyTriton is): opens the model with :func:`~nat_export.runtime.runners.open_model`
   (ONNX Runtime on the CPU, with the op library for a custom-op graph; a TensorRT engine on the GPU), binds it to
   Triton with the dynamic batcher (``max_batch_size``, preferred sizes, queue delay), serves HTTP on ``port``,
   gRPC on ``port + 1`` and metrics on ``port + 2`` at ``host`` (127.0.0.1 unless told otherwise), prints the
   URL and how to call it, and serves until SIGINT.

Statistics (``/v2/models/NAME/stats``: execution vs inference counts, batch sizes) are open to anyone who can
reach the port; the endpoints that change the server (model repository, shared memory, logging, trace) need
PyTriton's access token.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import RepositoryError, ServingError
from .triton_repo import DEFAULT_QUEUE_DELAY_US, ServedModel, TensorSpec, default_name, describe_model

__all__ = ["ServeSpec", "prepare", "run_server", "serve", "free_port", "usage_text"]

DEFAULT_PORT = 8000
#: endpoints that need PyTriton's access token (statistics stay open: read-only, and how batching is seen).
RESTRICTED_ENDPOINTS = ["shared-memory", "model-repository", "trace", "logging"]
STOP_GRACE_S = 60


@dataclass
class ServeSpec:
    """Everything the server process needs, as plain data (written as JSON for the worker).

    Attributes:
        model_path: the ONNX file or engine (absolute).
        name: the model name (URL path ``/v2/models/<name>``).
        host: the address to bind (``127.0.0.1``: this machine only).
        port: HTTP port; gRPC is ``port + 1``, metrics ``port + 2``.
        max_batch: Triton's max_batch_size (0: the file fixes the batch; no batching).
        queue_delay_us: the dynamic batcher's max queue delay, microseconds.
        preferred: the batcher's preferred batch sizes.
        inputs, outputs: ``{"name", "data_type", "dims"}`` per tensor (dims without the batch axis when batching).
        ort_op_library, plugin: the libraries the model needs (absolute paths), else None.
        threads: ONNX Runtime intra-op threads (None: ONNX Runtime's default).
        verbose: Triton's and PyTriton's logs on the terminal.
        what: one phrase on the model (``portable ONNX graph``, ...).
        kind: ``onnx`` (ONNX Runtime on the CPU) or ``engine`` (TensorRT on the GPU).
    """

    model_path: str
    name: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_batch: int = 8
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    preferred: list[int] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    ort_op_library: str | None = None
    plugin: str | None = None
    threads: int | None = None
    verbose: bool = False
    what: str = ""
    kind: str = "onnx"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        return cls(**json.loads(text))

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.port, self.port + 1, self.port + 2

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"


def free_port(host: str = "127.0.0.1", span: int = 3, tries: int = 50) -> int:
    """A port P with P..P+span-1 all free on ``host`` now (for tests and benchmarks)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            p = s.getsockname()[1]
        if p + span < 65536 and all(_port_free(host, q) for q in range(p, p + span)):
            return p
    raise ServingError(f"no {span} consecutive free ports found on {host}; pass --port")


def _port_free(host: str, port: int) -> bool:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def check_ports(host: str, port: int) -> None:
    """Refuse ports that are taken or out of range before anything starts.

    Raises:
        RepositoryError: a port out of range, an address this machine does not have, or a port in use.
    """
    if not 1 <= port <= 65533:
        raise RepositoryError(
            f"--port must be 1..65533 (HTTP on it, gRPC and metrics on the next two), got {port}; e.g. --port 8000"
        )
    for p, what in zip((port, port + 1, port + 2), ("HTTP", "gRPC", "metrics")):
        try:
            ok = _port_free(host, p)
        except (OSError, UnicodeError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise RepositoryError(
                f"--host {host} cannot be bound ({why}); pass an address of this machine (127.0.0.1, or 0.0.0.0 for all)"
            ) from None
        if not ok:
            raise RepositoryError(
                f"port {p} ({what}) on {host} is in use; pass --port P with P, P+1 and P+2 free (HTTP, gRPC, metrics)"
            )


def prepare(
    model_path: str | Path,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    max_batch: int | None = None,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
    ort_op_library: str | Path | None = None,
    plugin: str | Path | None = None,
    threads: int | None = None,
    verbose: bool = False,
) -> ServeSpec:
    """Check everything that can be checked before a server starts, and fix it in a :class:`ServeSpec`.

    Raises:
        FileNotFoundError / OnnxFileError / PluginNotFoundError / RepositoryError: see
            :func:`~.triton_repo.describe_model`; a bad name, queue delay or port (see :func:`check_ports`).
        nat_export.tensorrt.TrtError: an engine on a machine without a GPU.
    """
    from .triton_repo import check_name, preferred_batch_sizes

    if queue_delay_us < 0:
        raise RepositoryError(f"--max-queue-delay-us must be >= 0, got {queue_delay_us}; e.g. 100")
    if threads is not None and threads < 1:
        raise RepositoryError(f"--threads must be >= 1, got {threads}")
    m: ServedModel = describe_model(
        model_path, max_batch=max_batch, ort_op_library=ort_op_library, plugin=plugin, triton_backend=False
    )
    for t in m.inputs + m.outputs:
        t.numpy_dtype  # noqa: B018 - raises for a type PyTriton cannot carry
    if m.kind == "engine":
        from ..tensorrt.env import require_gpu

        require_gpu("serving a TensorRT engine")
        if threads is not None:
            raise RepositoryError("--threads (ONNX Runtime's) does not apply to an engine; leave it out")
    name = check_name(name or default_name(m.path))
    check_ports(host, port)
    return ServeSpec(
        model_path=str(Path(model_path).resolve()),
        name=name,
        host=host,
        port=port,
        max_batch=m.max_batch,
        queue_delay_us=queue_delay_us,
        preferred=preferred_batch_sizes(m) if m.max_batch else [],
        inputs=[asdict(t) for t in m.inputs],
        outputs=[asdict(t) for t in m.outputs],
        ort_op_library=str(m.library) if m.kind == "onnx" and m.library else None,
        plugin=str(m.library) if m.kind == "engine" and m.library else None,
        threads=threads,
        verbose=verbose,
        what=m.what(),
        kind=m.kind,
    )


def usage_text(spec: ServeSpec, backend: str = "") -> str:
    """What ``serve`` prints once the model answers: where it is, and a curl and a tritonclient example."""
    url = spec.url
    first = TensorSpec(**spec.inputs[0])
    out0 = spec.outputs[0]["name"]
    shape = ([1] if spec.max_batch else []) + [d if d > 0 else 1 for d in first.dims]
    count = 1
    for d in shape:
        count *= d
    dtype = first.numpy_dtype
    lines = [
        f"serving {spec.name} ({spec.what}{', ' + backend if backend else ''}) on Triton Inference Server",
        f"  HTTP     {url}/v2/models/{spec.name}   (KServe v2 protocol)",
        f"  gRPC     {url.split('//')[1].rsplit(':', 1)[0]}:{spec.port + 1}",
        f"  metrics  {url.rsplit(':', 1)[0]}:{spec.port + 2}/metrics",
    ]
    for t in spec.inputs:
        lines.append(f"  input    {t['name']} {t['data_type']} {([-1] if spec.max_batch else []) + t['dims']}")
    for t in spec.outputs:
        lines.append(f"  output   {t['name']} {t['data_type']} {([-1] if spec.max_batch else []) + t['dims']}")
    if spec.max_batch:
        lines.append(
            f"  batching requests are batched up to {spec.max_batch} (preferred {spec.preferred}, queue delay "
            f"{spec.queue_delay_us} us)"
        )
    else:
        lines.append("  batching none: the file fixes the batch")
    lines += [
        "try it:",
        f"  curl -s {url}/v2/models/{spec.name}",
        f"  python3 -c \"import json; print(json.dumps({{'inputs': [{{'name': '{first.name}', 'shape': {shape}, "
        f"'datatype': '{first.data_type}', 'data': [0] * {count}}}]}}))\" | curl -s -d @- "
        f"{url}/v2/models/{spec.name}/infer",
        "or from Python (pip install 'tritonclient[http]'):",
        "  import numpy as np, tritonclient.http as tc",
        f"  client = tc.InferenceServerClient('{url.split('//')[1]}')",
        f"  x = np.zeros({tuple(shape)}, np.{dtype})   # preprocessed pixel values",
        f"  inp = tc.InferInput('{first.name}', list(x.shape), '{first.data_type}'); inp.set_data_from_numpy(x)",
        f"  print(client.infer('{spec.name}', [inp]).as_numpy('{out0}'))",
        "Ctrl-C stops the server.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the server (where PyTriton imports)


def run_server(spec: ServeSpec, *, out=None) -> int:
    """Serve ``spec`` until SIGINT (Ctrl-C); returns 0 after a clean stop. Needs PyTriton in this interpreter.

    Raises:
        ServingError: PyTriton missing, no shared libpython, or Triton did not start.
        nat_export.ort.OrtError / nat_export.tensorrt.TrtError: the backend refused the model.
    """
    import logging

    import numpy as np

    from ..runtime.runners import open_model
    from .env import check_stub_libpython, stub_environment

    out = out or sys.stdout
    try:
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig
    except ImportError as e:
        raise ServingError(
            f"PyTriton does not import here ({e}); run `nat-export serve` from nat-export's own environment (it "
            "makes the serving environment), or pip install nvidia-pytriton 'numpy<2' here"
        ) from None
    if not spec.verbose:
        for name in ("pytriton", "tritonclient"):
            logging.getLogger(name).setLevel(logging.ERROR)
    env = stub_environment()
    os.environ["LD_LIBRARY_PATH"] = env["LD_LIBRARY_PATH"]  # the server and its stub inherit it
    check_stub_libpython(env)
    check_ports(spec.host, spec.port)

    runner = open_model(spec.model_path, ort_op_library=spec.ort_op_library, plugin=spec.plugin, threads=spec.threads)
    runner.activate()
    names = [t["name"] for t in spec.outputs]
    dtypes = {t["name"]: np.dtype(TensorSpec(**t).numpy_dtype) for t in spec.outputs}
    input_names = [t["name"] for t in spec.inputs]

    def run(feed: dict) -> dict:
        result = runner.infer({n: feed[n] for n in input_names}, check_inputs=False)
        return {n: np.ascontiguousarray(result[n], dtype=dtypes[n]) for n in names}

    if spec.max_batch:

        @batch
        def infer_func(**inputs):
            return run(inputs)

    else:

        def infer_func(requests):
            return [run(r) for r in requests]

    def tensor(t: dict) -> Tensor:
        ts = TensorSpec(**t)
        return Tensor(name=ts.name, dtype=np.dtype(ts.numpy_dtype).type, shape=tuple(ts.dims))

    log_dir = Path(tempfile.mkdtemp(prefix="nat-export-serve-"))
    config = TritonConfig(
        http_address=spec.host,
        http_port=spec.port,
        grpc_address=spec.host,
        grpc_port=spec.port + 1,
        metrics_address=spec.host,
        metrics_port=spec.port + 2,
        log_verbose=1 if spec.verbose else 0,
        log_file=None if spec.verbose else log_dir / "triton.log",
        exit_timeout_secs=10,
        allow_gpu_metrics=spec.kind == "engine",
    )
    triton = Triton(config=config, security_config=TritonSecurityConfig(restricted_endpoints=RESTRICTED_ENDPOINTS))
    try:
        triton.bind(
            model_name=spec.name,
            infer_func=infer_func,
            inputs=[tensor(t) for t in spec.inputs],
            outputs=[tensor(t) for t in spec.outputs],
            config=ModelConfig(
                batching=bool(spec.max_batch),
                max_batch_size=max(spec.max_batch, 1),
                batcher=DynamicBatcher(
                    max_queue_delay_microseconds=spec.queue_delay_us, preferred_batch_size=spec.preferred or None
                ),
            ),
            strict=True,
        )
        try:
            triton.run()
        except Exception as e:  # noqa: BLE001 - PyTriton's own types (TimeoutError, PyTritonError, ...)
            log = (log_dir / "triton.log").read_text(errors="replace") if (log_dir / "triton.log").is_file() else ""
            errors = [ln for ln in log.splitlines() if ln.startswith("E")]
            why = (errors[-1] if errors else " ".join(str(e).split()))[:300]
            raise ServingError(f"Triton did not start: {why}; run again with -v for Triton's log") from None
        try:
            import pytriton

            version = getattr(pytriton, "__version__", "")
        except ImportError:
            version = ""
        print(usage_text(spec, f"{runner.backend}, PyTriton {version}".rstrip(", ")), file=out, flush=True)
        triton.serve()  # until SIGINT: PyTriton catches the KeyboardInterrupt and stops Triton
    finally:
        triton.stop()
        import shutil

        shutil.rmtree(log_dir, ignore_errors=True)
    print(f"stopped {spec.name}", file=out, flush=True)
    return 0


# ---------------------------------------------------------------- from nat-export's own environment


def serve(spec: ServeSpec, *, setup_log=None) -> int:
    """Run the server for ``spec``: here when PyTriton imports here, else in the serving environment (made first
    when missing); returns the exit code (0 after a clean stop by Ctrl-C / SIGINT / SIGTERM).

    Raises:
        ServingError: the serving environment cannot be made, or the server process could not start.
    """
    from .env import ensure_env, package_link_dir, pytriton_here

    if pytriton_here():
        return run_server(spec)
    py = ensure_env(create=True, verbose=spec.verbose, log=setup_log)
    work = Path(tempfile.mkdtemp(prefix="nat-export-serve-"))
    try:
        spec_file = work / "spec.json"
        spec_file.write_text(spec.to_json())
        links = package_link_dir(work / "pkg")
        env = {**os.environ, "PYTHONPATH": str(links), "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.Popen(
                [str(py), "-m", "nat_export.serving.worker", str(spec_file)], env=env, start_new_session=True
            )
        except OSError as e:
            raise ServingError(f"the server process could not start ({e}); run `nat-export serve --setup`") from None
        return _supervise(proc)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _supervise(proc: subprocess.Popen) -> int:
    """Wait for the worker; pass one SIGINT on at the first Ctrl-C / SIGINT / SIGTERM; end its group when done."""
    stopping = threading.Event()

    def on_signal(signum, frame):
        if not stopping.is_set():
            stopping.set()
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
    try:
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping.is_set():
                    deadline = time.monotonic() + STOP_GRACE_S
                    while proc.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.2)
                    if proc.poll() is None:
                        _kill_group(proc.pid, signal.SIGKILL)
                    code = proc.wait()
                    break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _kill_group(proc.pid, signal.SIGKILL)  # anything the worker left behind (tritonserver, stubs)
    if stopping.is_set() and code in (0, -signal.SIGINT, 128 + signal.SIGINT):
        return 0
    return 1 if code < 0 else code


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
