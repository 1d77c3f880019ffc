"""Named NAT / DiNAT variants: one per published classification checkpoint (SHI-Labs), with the hyper-parameters
of the SHI-Labs constructors, the HF hub id, the original file name, the resolution and the evaluation recipe."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..onnx.metadata import Preprocessing
from .config import ConfigError, NatConfig, imagenet_labels

__all__ = [
    "DEFAULT_VARIANT",
    "IN22K_CLASSES",
    "VARIANTS",
    "Variant",
    "get_variant",
    "variant_config",
    "variant_for_file",
]

_D_MINI = ((1, 8, 1), (1, 4, 1, 4), (1, 2) * 3, (1,) * 5)
_D_DEEP = ((1, 8, 1), (1, 4, 1, 4), (1, 2) * 9, (1,) * 5)
_D_384 = ((1, 13, 1), (1, 6, 1, 6), (1, 3) * 9, (1,) * 5)  # dinat_large_384: dilations grown with the maps
IN22K_CLASSES = 21841
_NAT_URL = "https://shi-labs.com/projects/nat/checkpoints/CLS/"
_DINAT_URL = "https://shi-labs.com/projects/dinat/checkpoints/"


@dataclass(frozen=True)
class Variant:
    """A published checkpoint's architecture and how it was evaluated.

    Attributes:
        name: the ``--model`` name.
        config: the architecture (no labels; :func:`variant_config` adds them).
        hub_id: the HF hub repository (``--from-pretrained``), or None where SHI-Labs published no HF port.
        resolution: the input side it was trained / evaluated at, pixels.
        file: the original SHI-Labs file name (``--weights FILE --model NAME``).
        url: where that file is published.
        crop_pct: the evaluation recipe's center-crop fraction (timm: resize the shorter side to
            resolution / crop_pct, bicubic, center crop; 0.875 at 224, 1.0 at 384).
        pretrain: ``in1k``, ``in22k-in1k`` (fine-tuned on ImageNet-1k) or ``in22k`` (ImageNet-22k head).
    """

    name: str
    config: NatConfig
    hub_id: str | None
    resolution: int = 224
    file: str = ""
    url: str = ""
    crop_pct: float = 0.875
    pretrain: str = "in1k"

    @property
    def preprocessing(self) -> Preprocessing:
        """The published evaluation recipe at :attr:`resolution`."""
        return Preprocessing.imagenet((self.resolution, self.resolution), self.crop_pct)


def _nat(name, size, **kw) -> Variant:
    return Variant(
        name, NatConfig(**kw), f"shi-labs/{name}-in1k-224", file=f"nat_{size}.pth", url=f"{_NAT_URL}nat_{size}.pth"
    )


def _dinat(name, file, hub_id, resolution=224, pretrain="in1k", folder="imagenet1k", **kw) -> Variant:
    return Variant(
        name,
        NatConfig(kind="dinat", **kw),
        hub_id,
        resolution=resolution,
        file=file,
        url=f"{_DINAT_URL}{folder}/{file}",
        crop_pct=1.0 if resolution == 384 else 0.875,
        pretrain=pretrain,
    )


_LARGE = dict(depths=(3, 4, 18, 5), num_heads=(6, 12, 24, 48), embed_dim=192, mlp_ratio=2.0)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        _nat("nat-mini", "mini", depths=(3, 4, 6, 5), num_heads=(2, 4, 8, 16), embed_dim=64, mlp_ratio=3.0),
        _nat("nat-tiny", "tiny", depths=(3, 4, 18, 5), num_heads=(2, 4, 8, 16), embed_dim=64, mlp_ratio=3.0),
        _nat(
            "nat-small",
            "small",
            depths=(3, 4, 18, 5),
            num_heads=(3, 6, 12, 24),
            embed_dim=96,
            mlp_ratio=2.0,
            layer_scale=1e-5,
        ),
        _nat(
            "nat-base",
            "base",
            depths=(3, 4, 18, 5),
            num_heads=(4, 8, 16, 32),
            embed_dim=128,
            mlp_ratio=2.0,
            layer_scale=1e-5,
        ),
        _dinat(
            "dinat-mini",
            "dinat_mini_in1k_224.pth",
            "shi-labs/dinat-mini-in1k-224",
            depths=(3, 4, 6, 5),
            num_heads=(2, 4, 8, 16),
            embed_dim=64,
            mlp_ratio=3.0,
            dilations=_D_MINI,
        ),
        _dinat(
            "dinat-tiny",
            "dinat_tiny_in1k_224.pth",
            "shi-labs/dinat-tiny-in1k-224",
            depths=(3, 4, 18, 5),
            num_heads=(2, 4, 8, 16),
            embed_dim=64,
            mlp_ratio=3.0,
            dilations=_D_DEEP,
        ),
        _dinat(
            "dinat-small",
            "dinat_small_in1k_224.pth",
            "shi-labs/dinat-small-in1k-224",
            depths=(3, 4, 18, 5),
            num_heads=(3, 6, 12, 24),
            embed_dim=96,
            mlp_ratio=2.0,
            dilations=_D_DEEP,
        ),
        _dinat(
            "dinat-base",
            "dinat_base_in1k_224.pth",
            "shi-labs/dinat-base-in1k-224",
            depths=(3, 4, 18, 5),
            num_heads=(4, 8, 16, 32),
            embed_dim=128,
            mlp_ratio=2.0,
            layer_scale=1e-5,
            dilations=_D_DEEP,
        ),
        _dinat(
            "dinat-large",
            "dinat_large_in22k_in1k_224.pth",
            "shi-labs/dinat-large-in22k-in1k-224",
            pretrain="in22k-in1k",
            dilations=_D_DEEP,
            **_LARGE,
        ),
        _dinat(
            "dinat-large-384",
            "dinat_large_in22k_in1k_384.pth",
            "shi-labs/dinat-large-in22k-in1k-384",
            resolution=384,
            pretrain="in22k-in1k",
            dilations=_D_384,
            **_LARGE,
        ),
        _dinat(
            "dinat-large-11x11-384",
            "dinat_large_in22k_in1k_384_11x11.pth",
            "shi-labs/dinat-large-11x11-in22k-in1k-384",
            resolution=384,
            pretrain="in22k-in1k",
            kernel_size=11,
            dilations=_D_DEEP,
            **_LARGE,
        ),
        _dinat(
            "dinat-large-in22k",
            "dinat_large_in22k_224.pth",
            None,
            pretrain="in22k",
            folder="imagenet22k",
            num_classes=IN22K_CLASSES,
            dilations=_D_DEEP,
            **_LARGE,
        ),
        _dinat(
            "dinat-large-11x11-in22k",
            "dinat_large_in22k_224_11x11interp.pth",
            None,
            pretrain="in22k",
            folder="imagenet22k",
            num_classes=IN22K_CLASSES,
            kernel_size=11,
            dilations=_D_DEEP,
            **_LARGE,
        ),
    )
}

DEFAULT_VARIANT = "nat-tiny"

#: Published SHI-Labs files of architectures nat-export does not build (DiNAT_s is Swin-like; isotropic
#: variants have no hierarchy): their names are refused with the reason.
_OTHER_FAMILIES = (
    (re.compile(r"^dinat_s_"), "DiNAT_s (a Swin-style layout)"),
    (re.compile(r"isotropic|^vitrpb_"), "an isotropic NAT/DiNAT/ViT-rpb model"),
)


def get_variant(name: str) -> Variant:
    """The built-in variant ``name``.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    try:
        return VARIANTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(VARIANTS)} (see `nat-export models`)"
        ) from None


def variant_config(name: str) -> NatConfig:
    """The variant's config with its class names (ImageNet-1k; None for the 21841 ImageNet-22k classes, which
    are reported as class indices) and its published evaluation recipe attached."""
    v = get_variant(name)
    labels = imagenet_labels() if v.config.num_classes == 1000 else None
    return v.config.with_(labels=labels, preprocessing=v.preprocessing)


def variant_for_file(path: str | Path) -> Variant | None:
    """The variant whose published file name ``path`` has (case-insensitive), else None.

    Raises:
        ConfigError: a published SHI-Labs file of an architecture nat-export does not build.
    """
    name = Path(path).name.lower()
    for v in VARIANTS.values():
        if name == v.file:
            return v
    for pattern, what in _OTHER_FAMILIES:
        if pattern.search(name) and name.endswith(".pth"):
            raise ConfigError(
                f"{Path(path).name} is a published {what} checkpoint, an architecture nat-export does not build; "
                "use a NAT/DiNAT checkpoint (see `nat-export models`)"
            )
    return None
