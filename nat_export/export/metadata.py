"""The :class:`~nat_export.onnx.metadata.ModelDescription` the exporter records for a model."""

from __future__ import annotations

from collections.abc import Sequence

from .. import __version__
from ..models import NatConfig
from ..onnx.contract import CONTRACT_VERSION
from ..onnx.metadata import ModelDescription, Preprocessing

__all__ = ["build_metadata", "describe", "feature_maps", "recipe"]


def recipe(config: NatConfig, resolution: Sequence[int]) -> Preprocessing:
    """The preprocessing recorded for a model exported at ``resolution`` (H, W): the checkpoint's own recipe
    (``config.preprocessing``: HF ``preprocessor_config.json``, the variant's published recipe or a
    ``--preprocess`` override) rescaled to ``resolution``, else the ImageNet evaluation recipe (crop_pct
    0.875, bicubic); converted to the model's channel count (``L`` images for 1-channel models)."""
    pp = config.preprocessing.at(resolution) if config.preprocessing is not None else Preprocessing.imagenet(resolution)
    return pp.for_channels(config.in_chans)


def feature_maps(config: NatConfig) -> list[dict] | None:
    """A backbone's outputs as recorded: ``[{"name", "channels", "stride"}]`` in graph order; None for a classifier."""
    if not config.is_backbone:
        return None
    return [
        {"name": name, "channels": config.level_dim(i), "stride": config.level_stride(i)}
        for name, i in zip(config.out_features, config.out_indices)
    ]


def describe(
    name: str, config: NatConfig, resolution: Sequence[int], dtype: str, na_mode: str, source: dict | None = None
) -> ModelDescription:
    """What export writes: the variant, its config, contract and exporter versions, precision, NA mode,
    resolution (H, W), the checkpoint's preprocessing at that resolution and for its channel count
    (:func:`recipe`), labels, a backbone's feature maps, and ``source`` (how ``validate`` rebuilds the PyTorch reference)."""
    return ModelDescription(
        variant=name,
        config=config.to_dict(),
        contract_version=CONTRACT_VERSION,
        na_mode=na_mode,
        dtype=dtype,
        resolution=(int(resolution[0]), int(resolution[1])),
        preprocessing=recipe(config, resolution),
        labels=list(config.labels) if config.labels else None,
        feature_maps=feature_maps(config),
        source=source or None,
        exporter_version=__version__,
    )


def build_metadata(
    name: str, config: NatConfig, resolution: Sequence[int], dtype: str, na_mode: str, source: dict | None = None
) -> dict[str, str]:
    """:func:`describe` as ONNX ``metadata_props`` (``{"nat_export.<field>": text}``)."""
    return describe(name, config, resolution, dtype, na_mode, source).to_props()
