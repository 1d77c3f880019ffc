"""The :class:`~nat_export.onnx.metadata.ModelDescription` the exporter records for a model."""

from __future__ import annotations

from collections.abc import Sequence

from .. import __version__
from ..models import NatConfig
from ..onnx.contract import CONTRACT_VERSION
from ..onnx.metadata import ModelDescription, Preprocessing

__all__ = ["build_metadata", "describe"]


def describe(
    name: str, config: NatConfig, resolution: Sequence[int], dtype: str, na_mode: str, source: dict | None = None
) -> ModelDescription:
    """What export writes: the variant, its config, contract and exporter versions, precision, NA mode,
    resolution (H, W), the ImageNet evaluation recipe at that resolution, labels, and ``source`` (how
    ``validate`` rebuilds the PyTorch reference)."""
    return ModelDescription(
        variant=name,
        config=config.to_dict(),
        contract_version=CONTRACT_VERSION,
        na_mode=na_mode,
        dtype=dtype,
        resolution=(int(resolution[0]), int(resolution[1])),
        preprocessing=Preprocessing.imagenet(resolution),
        labels=list(config.labels) if config.labels else None,
        source=source or None,
        exporter_version=__version__,
    )


def build_metadata(
    name: str, config: NatConfig, resolution: Sequence[int], dtype: str, na_mode: str, source: dict | None = None
) -> dict[str, str]:
    """:func:`describe` as ONNX ``metadata_props`` (``{"nat_export.<field>": text}``)."""
    return describe(name, config, resolution, dtype, na_mode, source).to_props()
