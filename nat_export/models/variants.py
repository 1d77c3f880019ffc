"""Named NAT / DiNAT variants with their published hyper-parameters (SHI-Labs, HF hub ids)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError, NatConfig, imagenet_labels

_D_MINI = ((1, 8, 1), (1, 4, 1, 4), (1, 2) * 3, (1,) * 5)
_D_DEEP = ((1, 8, 1), (1, 4, 1, 4), (1, 2) * 9, (1,) * 5)


@dataclass(frozen=True)
class Variant:
    name: str
    config: NatConfig
    hub_id: str
    resolution: int = 224


def _v(name, hub_id, **kw) -> Variant:
    return Variant(name, NatConfig(**kw), hub_id)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        _v(
            "nat-mini",
            "shi-labs/nat-mini-in1k-224",
            depths=(3, 4, 6, 5),
            num_heads=(2, 4, 8, 16),
            embed_dim=64,
            mlp_ratio=3.0,
        ),
        _v(
            "nat-tiny",
            "shi-labs/nat-tiny-in1k-224",
            depths=(3, 4, 18, 5),
            num_heads=(2, 4, 8, 16),
            embed_dim=64,
            mlp_ratio=3.0,
        ),
        _v(
            "nat-small",
            "shi-labs/nat-small-in1k-224",
            depths=(3, 4, 18, 5),
            num_heads=(3, 6, 12, 24),
            embed_dim=96,
            mlp_ratio=2.0,
            layer_scale=1e-5,
        ),
        _v(
            "nat-base",
            "shi-labs/nat-base-in1k-224",
            depths=(3, 4, 18, 5),
            num_heads=(4, 8, 16, 32),
            embed_dim=128,
            mlp_ratio=2.0,
            layer_scale=1e-5,
        ),
        _v(
            "dinat-mini",
            "shi-labs/dinat-mini-in1k-224",
            kind="dinat",
            depths=(3, 4, 6, 5),
            num_heads=(2, 4, 8, 16),
            embed_dim=64,
            mlp_ratio=3.0,
            dilations=_D_MINI,
        ),
        _v(
            "dinat-tiny",
            "shi-labs/dinat-tiny-in1k-224",
            kind="dinat",
            depths=(3, 4, 18, 5),
            num_heads=(2, 4, 8, 16),
            embed_dim=64,
            mlp_ratio=3.0,
            dilations=_D_DEEP,
        ),
        _v(
            "dinat-small",
            "shi-labs/dinat-small-in1k-224",
            kind="dinat",
            depths=(3, 4, 18, 5),
            num_heads=(3, 6, 12, 24),
            embed_dim=96,
            mlp_ratio=2.0,
            dilations=_D_DEEP,
        ),
        _v(
            "dinat-base",
            "shi-labs/dinat-base-in1k-224",
            kind="dinat",
            depths=(3, 4, 18, 5),
            num_heads=(4, 8, 16, 32),
            embed_dim=128,
            mlp_ratio=2.0,
            layer_scale=1e-5,
            dilations=_D_DEEP,
        ),
        _v(
            "dinat-large",
            "shi-labs/dinat-large-in22k-in1k-224",
            kind="dinat",
            depths=(3, 4, 18, 5),
            num_heads=(6, 12, 24, 48),
            embed_dim=192,
            mlp_ratio=2.0,
            dilations=_D_DEEP,
        ),
    )
}

DEFAULT_VARIANT = "nat-tiny"


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(VARIANTS)} (see `nat-export models`)"
        ) from None


def variant_config(name: str) -> NatConfig:
    """The variant's config with the ImageNet-1k class names attached."""
    return get_variant(name).config.with_(labels=imagenet_labels())
