"""`nat-export serve`: one model on a real Triton Inference Server (PyTriton), with dynamic batching."""

from __future__ import annotations

import sys

from .args import add_library_args, add_verbose_arg, positive_int
from .triton_repo_cmd import _delay


def add_parser(sub):
    p = sub.add_parser(
        "serve",
        help="serve an ONNX file or a TensorRT engine on Triton Inference Server (PyTriton), with dynamic batching",
        description=(
            "Serve the model on a real Triton Inference Server through PyTriton (nvidia-pytriton bundles "
            "tritonserver): ONNX Runtime on the CPU (the portable graph, or the custom-op graph with its op library) "
            "or the TensorRT engine on a GPU, behind Triton's dynamic batcher. HTTP on --port, gRPC on --port+1, "
            "metrics on --port+2, bound to 127.0.0.1 unless --host says otherwise (KServe v2 protocol: curl, "
            "tritonclient, perf_analyzer). Prints the URL and how to call it; Ctrl-C stops it (exit 0). PyTriton "
            "needs numpy<2, so it runs in an environment of its own, made on first use (or by --setup) in "
            "~/.cache/nat-export/serve-env (NAT_EXPORT_SERVE_ENV: use another)."
        ),
        epilog=(
            "examples:\n"
            "  nat-export serve nat_tiny.onnx                       # http://127.0.0.1:8000/v2/models/nat_tiny\n"
            "  nat-export serve nat_tiny.onnx --port 9000 --max-batch 16 --max-queue-delay-us 500\n"
            "  nat-export serve nat_tiny.engine                     # TensorRT engine, on the GPU\n"
            "  nat-export serve --setup                             # only make the serving environment"
        ),
    )
    p.add_argument("model", nargs="?", metavar="MODEL.onnx|ENGINE", help="an exported .onnx, or an engine")
    p.add_argument(
        "--port", type=int, default=8000, metavar="P", help="HTTP port; gRPC P+1, metrics P+2 (default: 8000)"
    )
    p.add_argument(
        "--host", default="127.0.0.1", metavar="ADDR", help="address to bind (default: 127.0.0.1, this machine only)"
    )
    p.add_argument("--name", help="the model name in the URLs (default: the file's stem)")
    p.add_argument(
        "--max-batch",
        type=positive_int,
        metavar="N",
        help="the most samples Triton batches into one run (default: the engine profile's max; 8 for ONNX)",
    )
    p.add_argument(
        "--max-queue-delay-us",
        type=_delay,
        default=100,
        metavar="U",
        help="how long the batcher may hold a request to fill a batch, microseconds (default: 100)",
    )
    p.add_argument("--threads", type=positive_int, metavar="N", help="ONNX Runtime intra-op threads (default: its own)")
    p.add_argument(
        "--setup",
        action="store_true",
        help="make (or check) the serving environment and exit; with MODEL: make it first, then serve",
    )
    add_library_args(p)
    add_verbose_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import os

    from ..serving.env import ensure_env, pytriton_here
    from ..serving.serve import prepare, serve
    from ..serving.worker import DEBUG_VAR
    from .errors import UsageError

    def log(text):
        print(f"nat-export serve: {text}", file=sys.stderr, flush=True)

    if args.model is None:
        if not args.setup:
            raise UsageError("give the model to serve (MODEL.onnx or ENGINE), or --setup to make the environment only")
        if pytriton_here():
            print("PyTriton imports in this environment; nat-export serve runs the server here")
            return 0
        py = ensure_env(create=True, verbose=args.verbose, log=log)
        print(f"the serving environment is ready: {py.parent.parent}")
        return 0
    spec = prepare(
        args.model,
        name=args.name,
        host=args.host,
        port=args.port,
        max_batch=args.max_batch,
        queue_delay_us=args.max_queue_delay_us,
        ort_op_library=args.ort_op_library,
        plugin=args.plugin,
        threads=args.threads,
        verbose=args.verbose,
    )
    if getattr(args, "debug", False):
        os.environ[DEBUG_VAR] = "1"
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log(f"warning: binding {args.host}: anyone who reaches this machine can send requests")
    return serve(spec, setup_log=log)
