"""Model configuration: one dataclass for NAT and DiNAT (DiNAT is NAT with dilations).

HF ``config.json`` files are read exactly as transformers 4.40.2's ``NatConfig`` / ``DinatConfig``
read them: every missing field takes HF's default for that ``model_type`` (DiNAT's default dilation
schedule included), and every value is checked before any model is built, so that a config either
builds a model that runs or is refused with one :class:`ConfigError` line.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..onnx.metadata import Preprocessing

__all__ = [
    "ConfigError",
    "DINAT_DEFAULT_DILATIONS",
    "HF_DEFAULTS",
    "NatConfig",
    "imagenet_labels",
    "read_json_object",
]


class ConfigError(ValueError):
    """A model configuration that nat-export cannot build (one line: the problem and the fix)."""


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in class-index order."""
    text = resources.files("nat_export.data").joinpath("imagenet1k_labels.txt").read_text()
    return tuple(line for line in text.splitlines() if line)


#: transformers 4.40.2 ``NatConfig`` / ``DinatConfig`` defaults (the fields that shape the model).
HF_DEFAULTS: dict[str, Any] = {
    "patch_size": 4,
    "num_channels": 3,
    "embed_dim": 64,
    "depths": [3, 4, 6, 5],
    "num_heads": [2, 4, 8, 16],
    "kernel_size": 7,
    "mlp_ratio": 3.0,
    "qkv_bias": True,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "layer_scale_init_value": 0.0,
}
#: ``DinatConfig``'s default ``dilations`` (for its default depths [3, 4, 6, 5]).
DINAT_DEFAULT_DILATIONS = ((1, 8, 1), (1, 4, 1, 4), (1, 2, 1, 2, 1, 2), (1, 1, 1, 1, 1))
#: PretrainedConfig's default number of labels when a config.json has neither id2label nor num_labels.
HF_DEFAULT_NUM_LABELS = 2


def _show(v) -> str:
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def read_json_object(path: str | Path, what: str = "config") -> dict:
    """The JSON object in ``path``.

    Raises:
        ConfigError: the file is missing, unreadable, not JSON, or not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} not found; pass an existing JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} file {path} ({type(e).__name__}); pass a readable JSON file") from None
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); fix or regenerate the file"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds a JSON {type(data).__name__}, not an object; a {what} is a JSON object")
    return data


@dataclass(frozen=True)
class NatConfig:
    """The architecture of a NAT / DiNAT model (what HF's config.json and the SHI-Labs constructors say).

    Attributes:
        kind: ``nat`` or ``dinat``.
        embed_dim: channels of level 0 (level i has ``embed_dim * 2**i``).
        depths, num_heads: layers and heads per level.
        kernel_size: odd, >= 3.
        dilations: per level, per layer (>= 1); None: 1 everywhere.
        mlp_ratio: MLP hidden size / width.
        layer_scale: init value of gamma1/gamma2 (layer scale on when set).
        num_classes: classifier outputs (0: no head).
        in_chans: input channels.
        labels: class names (``num_classes`` of them) or None (class indices).
        out_features: a backbone's outputs, HF's stage names (``stage1`` .. ``stageN``, level i is
            ``stage{i+1}``) in stage order; None for a classifier. A backbone has no head
            (``num_classes`` 0) and one LayerNorm per output (HF ``hidden_states_norms``, SHI-Labs ``norm{i}``).
        preprocessing: the checkpoint's evaluation recipe (HF ``preprocessor_config.json`` or the variant's
            published one) at its native resolution; not part of the architecture (not in ``to_dict``,
            not compared).

    Raises:
        ConfigError: any value the model cannot be built with (one line naming the field).
    """

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
    out_features: tuple[str, ...] | None = None
    preprocessing: Preprocessing | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self._check("config")

    def _check(self, where: str) -> None:
        def bad(key: str, expected: str, got) -> ConfigError:
            return ConfigError(f"{where}: {key} must be {expected}, got {_show(got)}; fix {key}")

        if self.kind not in ("nat", "dinat"):
            raise bad("kind", "'nat' or 'dinat'", self.kind)
        if not _is_int(self.embed_dim) or self.embed_dim < 2:
            raise bad("embed_dim", "an integer >= 2", self.embed_dim)
        if not isinstance(self.depths, tuple) or not self.depths or not all(_is_int(d) and d >= 1 for d in self.depths):
            raise bad("depths", "a non-empty list of integers >= 1", _plain(self.depths))
        if len(self.depths) > 8:
            raise bad("depths", "at most 8 levels", _plain(self.depths))
        if not isinstance(self.num_heads, tuple) or not all(_is_int(h) and h >= 1 for h in self.num_heads):
            raise bad("num_heads", "a list of integers >= 1", _plain(self.num_heads))
        if len(self.depths) != len(self.num_heads):
            raise ConfigError(
                f"{where}: depths {list(self.depths)} and num_heads {list(self.num_heads)} differ in length; "
                "give one head count per level"
            )
        if not _is_int(self.kernel_size) or self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise bad("kernel_size", "an odd integer >= 3", self.kernel_size)
        for level, heads in enumerate(self.num_heads):
            if self.level_dim(level) % heads:
                raise ConfigError(
                    f"{where}: level {level} width {self.level_dim(level)} (embed_dim x 2^{level}) is not divisible "
                    f"by its {heads} heads; fix embed_dim or num_heads"
                )
        if self.dilations is not None:
            ok = isinstance(self.dilations, tuple) and all(isinstance(d, tuple) for d in self.dilations)
            if not ok or [len(d) for d in self.dilations] != list(self.depths):
                raise ConfigError(
                    f"{where}: dilations {_show(_plain(self.dilations))} must list one value per layer of depths "
                    f"{list(self.depths)}; fix dilations"
                )
            if not all(_is_int(x) and x >= 1 for d in self.dilations for x in d):
                raise bad("dilations", "integers >= 1", _plain(self.dilations))
        if not _is_num(self.mlp_ratio) or self.mlp_ratio <= 0 or int(self.embed_dim * self.mlp_ratio) < 1:
            raise bad("mlp_ratio", "a positive number (embed_dim x mlp_ratio >= 1)", self.mlp_ratio)
        if self.layer_scale is not None and (not _is_num(self.layer_scale) or self.layer_scale <= 0):
            raise bad("layer_scale", "a positive number or null", self.layer_scale)
        if not _is_int(self.num_classes) or self.num_classes < 0:
            raise bad("num_classes", "an integer >= 0", self.num_classes)
        if not _is_int(self.in_chans) or self.in_chans < 1:
            raise bad("in_chans (num_channels)", "an integer >= 1", self.in_chans)
        if not isinstance(self.qkv_bias, bool):
            raise bad("qkv_bias", "true or false", self.qkv_bias)
        if not _is_num(self.layer_norm_eps) or self.layer_norm_eps <= 0:
            raise bad("layer_norm_eps", "a positive number", self.layer_norm_eps)
        if self.labels is not None:
            if not isinstance(self.labels, tuple) or not all(isinstance(x, str) for x in self.labels):
                raise bad("labels", "a list of strings", _plain(self.labels))
            if len(self.labels) != self.num_classes:
                raise ConfigError(
                    f"{where}: {len(self.labels)} labels for {self.num_classes} classes; give one label per class"
                )
        if self.out_features is not None:
            names = self.stage_names
            if (
                not isinstance(self.out_features, tuple)
                or not self.out_features
                or not all(isinstance(x, str) for x in self.out_features)
            ):
                raise bad("out_features", f"a non-empty list of stage names ({', '.join(names)})", self.out_features)
            unknown = [x for x in self.out_features if x not in names]
            if unknown:
                extra = " ('stem', the embedding output, is not exported)" if "stem" in unknown else ""
                raise ConfigError(
                    f"{where}: out_features {list(self.out_features)} name unknown stages {unknown}{extra}; "
                    f"use {', '.join(names)}"
                )
            if list(self.out_features) != sorted(set(self.out_features), key=names.index):
                raise ConfigError(
                    f"{where}: out_features {list(self.out_features)} must list each stage once, in stage order; "
                    f"e.g. {', '.join(sorted(set(self.out_features), key=names.index))}"
                )
            if self.num_classes:
                raise ConfigError(
                    f"{where}: a backbone (out_features {list(self.out_features)}) has no classifier head, but "
                    f"num_classes is {self.num_classes}; set num_classes to 0 or drop out_features"
                )
        if self.preprocessing is not None and not isinstance(self.preprocessing, Preprocessing):
            raise bad("preprocessing", "a Preprocessing", type(self.preprocessing).__name__)

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

    @property
    def stage_names(self) -> tuple[str, ...]:
        """HF's names of the levels' outputs: ``stage1`` .. ``stageN`` (stride 4, 8, 16, 32)."""
        return tuple(f"stage{i + 1}" for i in range(self.num_levels))

    @property
    def is_backbone(self) -> bool:
        return self.out_features is not None

    @property
    def out_indices(self) -> tuple[int, ...]:
        """The 0-based levels of ``out_features`` (SHI-Labs ``out_indices``; HF's are these + 1)."""
        return tuple(self.stage_names.index(n) for n in self.out_features or ())

    def level_stride(self, level: int) -> int:
        """Input pixels per map pixel at ``level``: 4, 8, 16, 32."""
        return 4 * 2**level

    def as_backbone(self, out_features=None) -> NatConfig:
        """This architecture as a backbone: no head, ``out_features`` (default: the config's own, else every
        stage).

        Raises:
            ConfigError: unknown or unordered stage names.
        """
        names = tuple(out_features) if out_features else (self.out_features or self.stage_names)
        try:
            return replace(self, out_features=names, num_classes=0, labels=None)
        except ConfigError as e:
            raise ConfigError(str(e).replace("config: ", "--out-features: ", 1)) from None

    def min_unpadded_resolution(self) -> int:
        """Smallest input side at which no level needs padding (every map >= kernel*dilation)."""
        need = 0
        for level in range(self.num_levels):
            stride = self.level_stride(level)
            dmax = max((self.dilation(level, j) for j in range(self.depths[level])), default=1)
            need = max(need, self.kernel_size * dmax * stride)
        return need

    def with_(self, **changes) -> NatConfig:
        return replace(self, **changes)

    def architecture(self) -> dict:
        """The fields that shape the weights and the computation (no labels, no preprocessing)."""
        return self.to_dict()

    def to_dict(self) -> dict:
        """The architecture as plain JSON values (what export records as ``nat_export.config``)."""
        d = asdict(self)
        d.pop("labels")
        d.pop("preprocessing")
        return d

    # --- HF transformers config.json -------------------------------------------------------
    @classmethod
    def from_hf(cls, hf: dict, where: str = "config.json") -> NatConfig:
        """A config as HF transformers 4.40.2 reads ``hf`` (missing fields take HF's defaults).

        Raises:
            ConfigError: an unknown ``model_type``, a value of the wrong type or range, a feature nat-export
                does not build (``patch_size`` other than 4, ``hidden_act`` other than gelu), or DiNAT
                dilations missing for depths other than HF's default.
        """
        model_type = hf.get("model_type")
        if model_type in COMPOSITE_MODEL_TYPES:
            return cls._from_composite(hf, where)
        if model_type not in ("nat", "dinat"):
            raise ConfigError(
                f"{where} has model_type {_show(model_type)}; nat-export reads NAT/DiNAT configs "
                "(model_type 'nat' or 'dinat')"
            )

        def get(key):
            v = hf.get(key)
            return HF_DEFAULTS[key] if v is None else v

        def bad(key, expected, got) -> ConfigError:
            return ConfigError(f"{where}: {key} must be {expected}, got {_show(got)}; fix {key}")

        def int_list(key):
            v = get(key)
            if not isinstance(v, list) or not all(_is_int(x) for x in v):
                raise bad(key, "a list of integers", v)
            return tuple(v)

        def integer(key):
            v = get(key)
            if not _is_int(v):
                raise bad(key, "an integer", v)
            return v

        def number(key):
            v = get(key)
            if not _is_num(v):
                raise bad(key, "a number", v)
            return float(v)

        patch = get("patch_size")
        if patch != 4 or isinstance(patch, bool):
            raise bad("patch_size", "4 (the only patch size NAT/DiNAT have)", patch)
        act = get("hidden_act")
        if act != "gelu":
            raise ConfigError(f"{where}: hidden_act {_show(act)} is not supported; NAT/DiNAT use 'gelu'")
        qkv_bias = get("qkv_bias")
        if not isinstance(qkv_bias, bool):
            raise bad("qkv_bias", "true or false", qkv_bias)
        depths = int_list("depths")
        dilations = None
        if model_type == "dinat":
            dil = hf.get("dilations")
            if dil is None:
                if list(depths) != HF_DEFAULTS["depths"]:
                    raise ConfigError(
                        f"{where}: dilations are missing and depths {list(depths)} differ from DinatConfig's default "
                        f"{HF_DEFAULTS['depths']} (whose dilation schedule HF fills in); list dilations per layer"
                    )
                dilations = DINAT_DEFAULT_DILATIONS
            else:
                if not isinstance(dil, list) or not all(
                    isinstance(d, list) and all(_is_int(x) for x in d) for d in dil
                ):
                    raise bad("dilations", "a list (per level) of lists of integers (per layer)", dil)
                dilations = tuple(tuple(d) for d in dil)
        num_classes, labels = _hf_head(hf, where)
        out_features = _hf_out_features(hf, len(depths), where) if _is_backbone_config(hf) else None
        ls = number("layer_scale_init_value")
        return _build(
            cls,
            where,
            kind=model_type,
            embed_dim=integer("embed_dim"),
            depths=depths,
            num_heads=int_list("num_heads"),
            kernel_size=integer("kernel_size"),
            dilations=dilations,
            mlp_ratio=number("mlp_ratio"),
            layer_scale=ls if ls > 0 else None,
            num_classes=num_classes,
            in_chans=integer("num_channels"),
            qkv_bias=qkv_bias,
            layer_norm_eps=number("layer_norm_eps"),
            labels=labels,
            out_features=out_features,
        )

    @classmethod
    def _from_composite(cls, hf: dict, where: str) -> NatConfig:
        """The NAT/DiNAT backbone of a whole OneFormer / Mask2Former config (its ``backbone_config``)."""
        bc = hf.get("backbone_config")
        inner = bc.get("model_type") if isinstance(bc, dict) else None
        if inner not in ("nat", "dinat"):
            raise ConfigError(
                f"{where} is a {hf['model_type']} model whose backbone_config has model_type {_show(inner)}; "
                "nat-export exports NAT/DiNAT backbones only"
            )
        return cls.from_hf({"architectures": ["DinatBackbone"], **bc}, f"{where} backbone_config")

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> NatConfig:
        """nat-export's own form (:meth:`to_dict`, with ``kind``; plus optional ``labels``), or an HF config
        (``model_type``; a dict with neither is read as an HF config, whose model_type is then missing).

        Raises:
            ConfigError: unknown keys, or values the model cannot be built with.
        """
        if "model_type" in data or "kind" not in data:
            return cls.from_hf(data, where)
        data = dict(data)
        known = set(cls.__dataclass_fields__) - {"preprocessing"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown keys {', '.join(unknown)}; an HF config.json needs model_type 'nat' or 'dinat', "
                f"nat-export's own config takes {', '.join(sorted(known))}"
            )
        for key in ("depths", "num_heads", "labels", "out_features"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        if isinstance(data.get("dilations"), list):
            data["dilations"] = tuple(tuple(x) if isinstance(x, list) else x for x in data["dilations"])
        return _build(cls, where, **data)

    @classmethod
    def from_json_file(cls, path) -> NatConfig:
        """Read an HF ``config.json`` or nat-export's own config JSON.

        Raises:
            ConfigError: a missing or non-JSON file, or a config the model cannot be built with.
        """
        return cls.from_dict(read_json_object(path), str(path))


def _build(cls, where: str, **kw) -> NatConfig:
    """``cls(**kw)`` with errors naming ``where`` instead of "config"."""
    try:
        return cls(**kw)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(f"{where}: {msg[len('config: ') :]}" if msg.startswith("config: ") else msg) from None
    except TypeError as e:  # wrong types the dataclass cannot even hold
        raise ConfigError(f"{where}: {e}; fix the config") from None


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


#: Whole segmentation models whose ``backbone_config`` may be a NAT/DiNAT (HF transformers 4.40.2); their
#: backbone weights sit under ``model.pixel_level_module.encoder.``.
COMPOSITE_MODEL_TYPES = ("oneformer", "mask2former")


def _is_backbone_config(hf: dict) -> bool:
    archs = hf.get("architectures") or []
    return isinstance(archs, list) and any(isinstance(a, str) and a.endswith("Backbone") for a in archs)


def _hf_out_features(hf: dict, levels: int, where: str) -> tuple[str, ...]:
    """``out_features`` as HF's BackboneConfigMixin aligns them with ``out_indices`` over the stage names
    ``stem, stage1..stageN`` (neither given: the last stage)."""
    names = ["stem"] + [f"stage{i}" for i in range(1, levels + 1)]
    feats, idx = hf.get("out_features"), hf.get("out_indices")
    if feats is not None and (not isinstance(feats, list) or not all(isinstance(f, str) for f in feats)):
        raise ConfigError(f"{where}: out_features must be a list of stage names, got {_show(feats)}; fix out_features")
    if idx is not None:
        if not isinstance(idx, list) or not all(_is_int(i) and -len(names) <= i < len(names) for i in idx):
            raise ConfigError(
                f"{where}: out_indices must be a list of indices into {names}, got {_show(idx)}; fix out_indices"
            )
        from_idx = [names[i] for i in idx]
        if feats is not None and feats != from_idx:
            raise ConfigError(
                f"{where}: out_features {feats} and out_indices {idx} name different stages; fix one of them"
            )
        feats = from_idx
    return tuple(feats) if feats else (names[-1],)


def _hf_head(hf: dict, where: str) -> tuple[int, tuple[str, ...] | None]:
    """(num_classes, labels) as PretrainedConfig reads id2label / num_labels; no head for backbone configs."""
    archs = hf.get("architectures") or []
    if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
        raise ConfigError(f"{where}: architectures must be a list of strings, got {_show(archs)}; fix architectures")
    has_head = not archs or any(a.endswith("ForImageClassification") for a in archs)
    id2label = hf.get("id2label")
    if id2label is not None:
        if not isinstance(id2label, dict) or not all(isinstance(v, str) for v in id2label.values()):
            raise ConfigError(f"{where}: id2label must map class indices to names; fix id2label")
        try:
            by_index = {int(k): v for k, v in id2label.items()}
        except ValueError:
            raise ConfigError(f'{where}: id2label keys must be class indices ("0", "1", ...); fix id2label') from None
        n = len(by_index)
        if sorted(by_index) != list(range(n)):
            raise ConfigError(f"{where}: id2label must name classes 0..{n - 1} exactly once; fix id2label")
        labels = tuple(by_index[i] for i in range(n))
    else:
        n = hf.get("num_labels", HF_DEFAULT_NUM_LABELS)
        if not _is_int(n) or n < 0:
            raise ConfigError(f"{where}: num_labels must be an integer >= 0, got {_show(n)}; fix num_labels")
        labels = tuple(f"LABEL_{i}" for i in range(n))
    if not has_head:
        return 0, None
    return n, (labels or None)
