"""Model configuration: one dataclass for NAT and DiNAT (DiNAT is NAT with dilations)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from importlib import resources


class ConfigError(ValueError):
    """A model configuration that nat-export cannot build."""


def imagenet_labels() -> tuple[str, ...]:
    text = resources.files("nat_export.data").joinpath("imagenet1k_labels.txt").read_text()
    return tuple(line for line in text.splitlines() if line)


@dataclass(frozen=True)
class NatConfig:
    kind: str = "nat"  # "nat" or "dinat"
    embed_dim: int = 64
    depths: tuple[int, ...] = (3, 4, 18, 5)
    num_heads: tuple[int, ...] = (2, 4, 8, 16)
    kernel_size: int = 7
    dilations: tuple[tuple[int, ...], ...] | None = None  # per level, per layer; None: all 1
    mlp_ratio: float = 3.0
    layer_scale: float | None = None  # init value of gamma1/gamma2 (layer scale on when set)
    num_classes: int = 1000
    in_chans: int = 3
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-5
    labels: tuple[str, ...] | None = field(default=None, repr=False)

    def __post_init__(self):
        if len(self.depths) != len(self.num_heads):
            raise ConfigError(f"depths {self.depths} and num_heads {self.num_heads} differ in length")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {self.kernel_size}")
        for level, heads in enumerate(self.num_heads):
            if self.level_dim(level) % heads:
                raise ConfigError(f"level {level}: dim {self.level_dim(level)} is not divisible by {heads} heads")
        if self.dilations is not None:
            if [len(d) for d in self.dilations] != list(self.depths):
                raise ConfigError(f"dilations {self.dilations} must list one value per layer of depths {self.depths}")
        if self.labels is not None and len(self.labels) != self.num_classes:
            raise ConfigError(f"{len(self.labels)} labels for {self.num_classes} classes")

    @property
    def num_levels(self) -> int:
        return len(self.depths)

    @property
    def num_features(self) -> int:
        return self.level_dim(self.num_levels - 1)

    def level_dim(self, level: int) -> int:
        return self.embed_dim * 2**level

    def dilation(self, level: int, layer: int) -> int:
        return 1 if self.dilations is None else self.dilations[level][layer]

    def min_unpadded_resolution(self) -> int:
        """Smallest input side at which no level needs padding (every map >= kernel*dilation)."""
        need = 0
        for level in range(self.num_levels):
            stride = 4 * 2**level
            dmax = max((self.dilation(level, j) for j in range(self.depths[level])), default=1)
            need = max(need, self.kernel_size * dmax * stride)
        return need

    def with_(self, **changes) -> NatConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("labels")
        return d

    # --- HF transformers config.json -------------------------------------------------------
    @classmethod
    def from_hf(cls, hf: dict) -> NatConfig:
        model_type = hf.get("model_type")
        if model_type not in ("nat", "dinat"):
            raise ConfigError(f"config.json has model_type {model_type!r}; nat-export reads 'nat' and 'dinat' models")
        act = hf.get("hidden_act", "gelu")
        if act != "gelu":
            raise ConfigError(f"hidden_act {act!r} is not supported (NAT/DiNAT use 'gelu')")
        id2label = hf.get("id2label") or {}
        archs = hf.get("architectures") or []
        has_head = any(a.endswith("ForImageClassification") for a in archs) or not archs
        num_classes = len(id2label) if has_head and id2label else (hf.get("num_labels", 0) if has_head else 0)
        labels = tuple(id2label[str(i)] for i in range(num_classes)) if id2label and has_head else None
        ls = float(hf.get("layer_scale_init_value", 0.0) or 0.0)
        dil = hf.get("dilations") if model_type == "dinat" else None
        return cls(
            kind=model_type,
            embed_dim=int(hf["embed_dim"]),
            depths=tuple(hf["depths"]),
            num_heads=tuple(hf["num_heads"]),
            kernel_size=int(hf.get("kernel_size", 7)),
            dilations=tuple(tuple(x) for x in dil) if dil else None,
            mlp_ratio=float(hf.get("mlp_ratio", 3.0)),
            layer_scale=ls if ls > 0 else None,
            num_classes=num_classes,
            in_chans=int(hf.get("num_channels", 3)),
            qkv_bias=bool(hf.get("qkv_bias", True)),
            layer_norm_eps=float(hf.get("layer_norm_eps", 1e-5)),
            labels=labels,
        )

    @classmethod
    def from_json_file(cls, path) -> NatConfig:
        with open(path) as f:
            data = json.load(f)
        if "model_type" in data:
            return cls.from_hf(data)
        data = dict(data)
        for key in ("depths", "num_heads"):
            if key in data:
                data[key] = tuple(data[key])
        if data.get("dilations"):
            data["dilations"] = tuple(tuple(x) for x in data["dilations"])
        if data.get("labels"):
            data["labels"] = tuple(data["labels"])
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from None
