"""The backbone architecture an mmdet / mmseg checkpoint records about itself.

mmcv's runners save ``meta["config"]``: the training config as Python text (``cfg.pretty_text``), whose
``backbone=dict(type='DiNAT', embed_dim=..., dilations=[[...]], ...)`` says what the tensors cannot: the
dilations (which differ between detection, segmentation and classification) and the ``out_indices``. The
text is parsed with :mod:`ast` and only literal values are read; nothing in it is executed.
"""

from __future__ import annotations

import ast

from .config import ConfigError, NatConfig

__all__ = ["backbone_config_from_meta"]

#: mmdet / mmseg backbone types of the NAT repository (``detection/nat.py``, ``detection/dinat.py``,
#: ``segmentation/``) that nat-export builds; DiNAT_s (a Swin-like variant) is another architecture.
BACKBONE_TYPES = {"NAT": "nat", "DiNAT": "dinat"}


def _backbone_dict(text: str) -> dict | None:
    """The literal keywords of the first ``backbone=dict(...)`` in a config's text (None: no such call)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            value = kw.value
            if kw.arg == "backbone" and isinstance(value, ast.Call) and getattr(value.func, "id", None) == "dict":
                out = {}
                for item in value.keywords:
                    try:
                        out[item.arg] = ast.literal_eval(item.value)
                    except (ValueError, SyntaxError, TypeError):
                        continue  # not a literal (e.g. norm_layer=nn.LayerNorm): not needed here
                return out
    return None


def backbone_config_from_meta(meta, where: str) -> NatConfig | None:
    """The backbone config of an mmdet / mmseg checkpoint's ``meta`` (None when it records none).

    Returns:
        A backbone :class:`NatConfig` (``out_features`` from ``out_indices``, default all four levels).

    Raises:
        ConfigError: the recorded backbone is not a NAT / DiNAT, or its values cannot build a model.
    """
    text = meta.get("config") if isinstance(meta, dict) else None
    if not isinstance(text, str):
        return None
    bb = _backbone_dict(text)
    if bb is None:
        return None
    kind = BACKBONE_TYPES.get(bb.get("type"))
    if kind is None:
        raise ConfigError(
            f"{where}: its recorded config's backbone is {bb.get('type')!r}, not NAT or DiNAT; nat-export exports "
            "NAT/DiNAT backbones only"
        )
    try:
        depths = tuple(bb["depths"])
        dilations = bb.get("dilations")
        levels = len(depths)
        out_indices = tuple(bb.get("out_indices", range(levels)))
        return NatConfig(
            kind=kind if dilations is not None else "nat",
            embed_dim=bb["embed_dim"],
            depths=depths,
            num_heads=tuple(bb["num_heads"]),
            kernel_size=bb.get("kernel_size", 7),
            dilations=None if dilations is None else tuple(tuple(d) for d in dilations),
            mlp_ratio=float(bb["mlp_ratio"]),
            layer_scale=bb.get("layer_scale"),
            num_classes=0,
            in_chans=bb.get("in_chans", 3),
            qkv_bias=bb.get("qkv_bias", True),
            out_features=tuple(f"stage{i + 1}" for i in out_indices),
        )
    except (KeyError, TypeError) as e:
        raise ConfigError(
            f"{where}: its recorded config's backbone lacks or garbles {e}; pass --model CONFIG for the backbone"
        ) from None
    except ConfigError as e:
        raise ConfigError(f"{where}: its recorded backbone config: {str(e).removeprefix('config: ')}") from None
