"""metadata_props written into every exported ONNX file (and read back by trt / infer / validate)."""
from __future__ import annotations

import json

from .. import __version__
from ..models import NatConfig
from ..onnx_file import CONTRACT_VERSION

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
from ..onnx_file import METADATA_PREFIX as PREFIX
from ..onnx_file import read_metadata  # noqa: F401  (re-exported)


def preprocessing(resolution: tuple[int, int]) -> dict:
    """How pixel_values are made from an RGB image (as the NAT/DiNAT checkpoints were evaluated)."""
    return {
        "resize_shorter_side": round(min(resolution) / 0.875),
        "interpolation": "bicubic",
        "center_crop": list(resolution),
        "scale": 1 / 255,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "layout": "NCHW",
        "color": "RGB",
    }


def build_metadata(name: str, config: NatConfig, resolution, dtype: str, na_mode: str, source: dict | None = None) -> dict[str, str]:
    meta = {
        "variant": name,
        "config": json.dumps(config.to_dict()),
        "contract_version": CONTRACT_VERSION,
        "na_mode": na_mode,
        "dtype": dtype,
        "resolution": json.dumps(list(resolution)),
        "preprocessing": json.dumps(preprocessing(resolution)),
        "exporter_version": __version__,
    }
    if source:
        meta["source"] = json.dumps(source)
    if config.labels:
        meta["labels"] = json.dumps(list(config.labels))
    return {PREFIX + k: v for k, v in meta.items()}
