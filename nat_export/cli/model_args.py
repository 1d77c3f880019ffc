"""The model-selection options shared by onnx, validate, bench and trt."""
from __future__ import annotations

import warnings


def add_model_args(p, default_hint: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="NAME|CONFIG", help="built-in variant (see `nat-export models`) or a config.json"
                   + (" (default: nat-tiny, randomly initialised)" if default_hint else ""))
    g.add_argument("--from-pretrained", metavar="ID_OR_DIR", help="HF hub id (read offline from the cache when present) or checkpoint folder")
    g.add_argument("--weights", metavar="FILE", help="state dict (.pth/.bin/.safetensors, original SHI-Labs or HF layout); needs --model")


def has_model_args(args) -> bool:
    return bool(args.model or args.from_pretrained or args.weights)


def load_from_args(args, spec: dict | None = None, console=None):
    """LoadedModel from --model/--from-pretrained/--weights, else from ``spec`` (ONNX metadata), else default."""
    from ..models import load_model

    if has_model_args(args):
        loaded = load_model(args.model, from_pretrained=args.from_pretrained, weights=args.weights)
    elif spec:
        loaded = load_model(spec.get("model"), from_pretrained=spec.get("from_pretrained"), weights=spec.get("weights"))
    else:
        loaded = load_model(None)
    if loaded.source == "random" and console is not None:
        console.print(
            f"[yellow]warning:[/] {loaded.name} is randomly initialised (no weights given); its outputs mean nothing. "
            "Load real weights with --from-pretrained shi-labs/nat-tiny-in1k-224 (or a checkpoint folder), "
            "or --weights FILE --model VARIANT"
        )
    return loaded


def quiet_torch_warnings() -> None:
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
