"""metadata_props written into every exported ONNX file (and read back by trt / infer / validate)."""
from __future__ import annotations

import json

from .. import __version__
from ..models import NatConfig
from ..onnx_file import CONTRACT_VERSION, METADATA_PREFIX, read_metadata
from ..runtime.preprocess import default_preprocessing

__all__ = ["build_metadata", "read_metadata"]


def build_metadata(name: str, config: NatConfig, resolution, dtype: str, na_mode: str, source: dict | None = None) -> dict[str, str]:
    meta = {
        "variant": name,
        "config": json.dumps(config.to_dict()),
        "contract_version": CONTRACT_VERSION,
        "na_mode": na_mode,
        "dtype": dtype,
        "resolution": json.dumps(list(resolution)),
        "preprocessing": json.dumps(default_preprocessing(resolution)),
        "exporter_version": __version__,
    }
    if source:
        meta["source"] = json.dumps(source)
    if config.labels:
        meta["labels"] = json.dumps(list(config.labels))
    return {METADATA_PREFIX + k: v for k, v in meta.items()}
