"""`nat-export infer`: classify images with an engine or an ONNX file; prints the top-5."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UsageError
from .trt_cmd import runtime_errors_as_usage


def add_parser(sub):
    p = sub.add_parser(
        "infer",
        help="classify images with a TensorRT engine or an ONNX file (top-5 labels)",
        description=(
            "Preprocess the images as the model file says (resize the shorter side to res/0.875, bicubic; center "
            "crop; /255; ImageNet mean/std), run them through a TensorRT engine (TrtEngine, with the NA plugin) or "
            "an ONNX file (ONNX Runtime: the portable graph directly, an NA graph with the custom-op library), and "
            "print the top-k labels. Labels and preprocessing come from the engine's sidecar or the ONNX metadata."
        ),
        epilog=(
            "examples:\n"
            "  nat-export infer nat_tiny.engine cat.jpg dog.png\n"
            "  nat-export infer nat_tiny.onnx cat.jpg --top 3 --json\n"
            "  nat-export infer nat_tiny.onnx cat.jpg --provider tensorrt      # ONNX Runtime's TensorRT EP\n"
            "  nat-export infer nat_tiny.onnx cat.jpg --save-input cat.f32     # raw tensor for samples/cpp"
        ),
    )
    p.add_argument("model", metavar="ENGINE|ONNX", help="engine built by `nat-export trt`, or an exported .onnx")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (anything Pillow reads)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to print (default: 5)")
    p.add_argument("--plugin", metavar="LIB", help="plugin library (TensorRT plugin for engines, ORT custom-op library for ONNX)")
    p.add_argument("--provider", choices=("cpu", "tensorrt"), default="cpu", help="ONNX Runtime provider for an .onnx (default: cpu)")
    p.add_argument("--save-input", metavar="FILE", help="also write the preprocessed batch as raw float32 NCHW")
    p.add_argument("--force", action="store_true", help="overwrite --save-input's file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def _onnx_info(path: Path) -> tuple[dict, list]:
    import onnx

    from ..onnx_file import input_shapes, read_metadata

    model = onnx.load(str(path), load_external_data=False)
    shapes = input_shapes(model)
    return read_metadata(model), next(iter(shapes.values()), [])


def _preprocessing(meta: dict, input_shape, err) -> dict:
    from ..runtime.preprocess import default_preprocessing

    if meta.get("preprocessing"):
        return meta["preprocessing"]
    res = meta.get("resolution")
    if not res and len(input_shape) == 4 and all(isinstance(d, int) and d > 0 for d in input_shape[2:]):
        res = list(input_shape[2:])
    if not res:
        raise UsageError("the model file records no preprocessing or resolution; export it with `nat-export onnx`")
    err(f"note: no preprocessing recorded in the model file; using the ImageNet recipe at {res[0]}x{res[1]}")
    return default_preprocessing(res)


def open_target(path: str, *, plugin=None, provider: str = "cpu"):
    """(runner feed->outputs, input name, input numpy dtype, metadata, input shape) for an engine or ONNX."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found")
    if is_onnx(p):
        from ..runtime.ort_trt_ep import onnx_session, session_runner

        meta, shape = _onnx_info(p)
        sess = onnx_session(p, provider=provider, plugin_lib=plugin)
        inp = sess.get_inputs()[0]
        dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        return session_runner(sess), inp.name, dtype, meta, shape
    from ..runtime.trt_engine import TrtEngine

    eng = TrtEngine(p, plugin_lib=plugin)
    return eng, eng.input_names[0], np.float32, eng.sidecar, list(eng.input_shape())


def run(args) -> int:
    from ..runtime.preprocess import load_images, save_raw_tensor, top_k

    def err(msg: str) -> None:
        print(msg, file=sys.stderr)

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    if args.save_input and Path(args.save_input).exists() and not args.force:
        raise FileExistsError(f"{args.save_input} exists; pass --force to overwrite it")
    with runtime_errors_as_usage():
        runner, name, dtype, meta, shape = open_target(args.model, plugin=args.plugin, provider=args.provider)
        pp = _preprocessing(meta, shape, err)
        try:
            x = load_images(args.images, pp)
        except ValueError as e:
            raise UsageError(str(e)) from None
        except ImportError as e:
            raise UsageError(str(e)) from None
        if args.save_input:
            save_raw_tensor(args.save_input, x)
            err(f"wrote the preprocessed input {list(x.shape)} float32 to {args.save_input}")
        outputs = runner({name: x.astype(dtype)})
    logits = outputs.get("logits", next(iter(outputs.values())))
    labels = meta.get("labels")
    if not labels:
        err("note: the model file records no labels; printing class indices")
    rows = top_k(logits, labels, args.top)
    if args.json:
        json.dump([{"image": str(img), "top": r} for img, r in zip(args.images, rows)], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    for img, r in zip(args.images, rows):
        print(img)
        for item in r:
            print(f"  {item['probability']:7.4f}  {item['label']}  ({item['index']})")
    return 0
