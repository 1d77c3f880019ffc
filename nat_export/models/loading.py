"""Build a model and load weights: HF checkpoint folders, hub ids, original SHI-Labs state dicts and the
containers training code saves them in (timm train.py checkpoints, EMA, DDP / AveragedModel).

Every published checkpoint loads right or not at all: published file names and the tensors' own shapes are
checked against the chosen variant, and a mismatch is one line naming the variant that fits.
"""

from __future__ import annotations

import argparse
import pickle
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch

from ..onnx.metadata import INTERPOLATIONS, Preprocessing
from .config import COMPOSITE_MODEL_TYPES, ConfigError, NatConfig, read_json_object
from .framework_config import backbone_config_from_meta
from .nat import NAT
from .variants import DEFAULT_VARIANT, VARIANTS, Variant, get_variant, variant_config, variant_for_file

__all__ = [
    "CheckpointError",
    "LoadedModel",
    "hf_preprocessing",
    "hf_to_original",
    "load_hf_folder",
    "load_model",
    "load_state_dict_strict",
    "read_checkpoint",
    "read_state_dict",
]


class CheckpointError(ValueError):
    """Weights that cannot be loaded into the model (missing file, keys or shapes that do not match)."""


RANDOM_SEED = 0


@dataclass
class LoadedModel:
    """A built model and where it came from.

    Attributes:
        model: the reference model (eval mode); ``model.config.preprocessing`` is its recipe.
        name: variant name, hub id or path: what the user asked for.
        source: ``random``, ``hf``, ``hub`` or ``original``.
        spec: the :func:`load_model` arguments that rebuild this model (absolute paths; hub ids with their
            revision): what export records as ``nat_export.source``.
        notes: things the user should know (EMA weights present or used, a variant inferred from a file name).
    """

    model: NAT
    name: str
    source: str
    spec: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HF_PREPROCESSOR_FILE = "preprocessor_config.json"

_HF_LAYER_MAP = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.self.rpb": "attn.rpb",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}
_HF_LAYER_RE = re.compile(r"^encoder\.levels\.(\d+)\.layers\.(\d+)\.(.+)$")

#: Keys under which training code stores the regular weights, and the EMA weights (timm train.py:
#: state_dict / state_dict_ema; others: model / model_ema, ...). Looked up in this order.
REGULAR_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "module", "net")
EMA_KEYS = ("state_dict_ema", "model_ema", "ema", "ema_state_dict", "model_ema_state_dict")
#: Per-key prefixes added by wrappers: DistributedDataParallel / AveragedModel (``module.``) and
#: ``torch.compile`` (``_orig_mod.``).
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: Non-weight entries wrappers add to a state dict (AveragedModel's update counter).
_WRAPPER_EXTRAS = ("n_averaged",)


def _strip_prefix(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if k.startswith(prefix):
                    k, changed = k[len(prefix) :], True
        out[k] = v
    if out and all(k.startswith("model.") for k in out):
        out = {k[len("model.") :]: v for k, v in out.items()}
    return out


def is_hf_state_dict(sd: dict) -> bool:
    return any(k.startswith(("nat.", "dinat.", "embeddings.", "encoder.", "hidden_states_norms.")) for k in sd)


#: Where whole detection / segmentation checkpoints keep their backbone's tensors: HF OneFormer / Mask2Former
#: (``model.pixel_level_module.encoder.``; ``model.`` may already be stripped), mmdet / mmseg (``state_dict``
#: with ``backbone.``) and detectron2 (``model`` with ``backbone.``).
BACKBONE_PREFIXES = ("model.pixel_level_module.encoder.", "pixel_level_module.encoder.", "backbone.")
_OUT_NORM_RE = re.compile(r"^norm(\d+)\.(weight|bias)$")


def select_backbone(sd: dict) -> tuple[dict, list[str]]:
    """The backbone part of a whole detection / segmentation state dict (:data:`BACKBONE_PREFIXES`), prefix
    stripped, and a note saying what was left out; other state dicts unchanged."""
    for prefix in BACKBONE_PREFIXES:
        sub = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
        if sub:
            rest = len(sd) - len(sub)
            note = f"took the {len(sub)} backbone tensors under {prefix!r}" + (
                f"; the other {rest} (neck, heads, decoder) are not exported" if rest else ""
            )
            return sub, [note]
    return sd, []


def output_norm_levels(sd: dict) -> list[int]:
    """The levels a backbone state dict (original layout) has output norms for (``norm{i}``)."""
    return sorted({int(m[1]) for k in sd if (m := _OUT_NORM_RE.match(k))})


def _as_backbone_weights(model: NAT, sd: dict) -> tuple[dict, list[str]]:
    """``sd`` (original layout) fitted to a backbone ``model``: a classifier's head and final norm dropped and its
    missing output norms initialised as HF's ``DinatBackbone.from_pretrained`` does (weight 1, bias 0); output
    norms of stages not exported dropped."""
    notes, own = [], model.state_dict()
    cfg = model.config
    have = output_norm_levels(sd)
    if any(k.startswith(("head.", "norm.")) for k in sd):
        sd = {k: v for k, v in sd.items() if not k.startswith(("head.", "norm."))}
        notes.append("dropped the classifier's head and final norm (exporting the backbone)")
    if not have:
        sd = {**sd, **{k: v for k, v in own.items() if _OUT_NORM_RE.match(k)}}
        names = ", ".join(cfg.out_features)
        notes.append(
            f"the checkpoint has no per-stage output norms; {names} use new LayerNorms (weight 1, bias 0), as HF "
            "does when a classifier is loaded as a backbone"
        )
        return sd, notes
    extra = [i for i in have if i not in cfg.out_indices]
    if extra:
        sd = {k: v for k, v in sd.items() if not ((m := _OUT_NORM_RE.match(k)) and int(m[1]) in extra)}
        notes.append(f"left out the output norms of {', '.join(cfg.stage_names[i] for i in extra)} (not exported)")
    return sd, notes


def hf_to_original(sd: dict) -> dict:
    """Rename an HF NAT/DiNAT state dict to the original layout; q, k, v fuse into qkv."""
    out, qkv = {}, {}
    for key, value in sd.items():
        key = re.sub(r"^(nat|dinat)\.", "", key)
        if key.startswith("embeddings.patch_embeddings.projection."):
            out["patch_embed.proj." + key.split("projection.", 1)[1]] = value
        elif key.startswith("embeddings.norm."):
            out["patch_embed.norm." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("layernorm."):
            out["norm." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("classifier."):
            out["head." + key.rsplit(".", 1)[1]] = value
        elif m := re.match(r"^hidden_states_norms\.stage(\d+)\.(weight|bias)$", key):
            out[f"norm{int(m[1]) - 1}.{m[2]}"] = value
        elif m := re.match(r"^encoder\.levels\.(\d+)\.downsample\.(.+)$", key):
            out[f"levels.{m[1]}.downsample.{m[2]}"] = value
        elif m := _HF_LAYER_RE.match(key):
            base, rest = f"levels.{m[1]}.blocks.{m[2]}.", m[3]
            if rest == "layer_scale_parameters":
                out[base + "gamma1"], out[base + "gamma2"] = value[0].clone(), value[1].clone()
            elif q := re.match(r"^attention\.self\.(query|key|value)\.(weight|bias)$", rest):
                qkv.setdefault((base, q[2]), {})[q[1]] = value
            else:
                for hf_name, name in _HF_LAYER_MAP.items():
                    if rest.startswith(hf_name + ".") or rest == hf_name:
                        out[base + name + rest[len(hf_name) :]] = value
                        break
                else:
                    out[key] = value  # reported as unexpected by load_state_dict_strict
        else:
            out[key] = value
    for (base, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise CheckpointError(
                f"{base}attn: incomplete query/key/value {kind} in the HF checkpoint; download it again"
            )
        out[f"{base}attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def _first(keys, n=5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


# ----------------------------------------------------------------------------- what the tensors say


@cache
def _variant_shapes(name: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in NAT(VARIANTS[name].config).state_dict().items()}


def fitting_variants(sd: dict) -> list[str]:
    """The built-in variants whose parameters have exactly the keys and shapes of ``sd`` (original layout).

    Tensors cannot tell dilations apart, so NAT-X and DiNAT-X (and DiNAT-Large at 224 and 384) fit alike.
    """
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    return [name for name in VARIANTS if _variant_shapes(name) == shapes]


def _tensor_facts(sd: dict) -> str:
    """What the tensors say about the architecture: kernel (rpb size) and classes (head size)."""
    facts = []
    rpb = next((v for k, v in sd.items() if k.endswith("attn.rpb") and v.dim() == 3), None)
    if rpb is not None:
        facts.append(f"its rpb gives kernel {(rpb.shape[-1] + 1) // 2}")
    head = sd.get("head.weight")
    facts.append(f"its head {head.shape[0]} classes" if head is not None and head.dim() == 2 else "no head")
    return ", ".join(facts)


def to_original_layout(sd: dict) -> tuple[dict, list[str]]:
    """Any supported state dict in the original SHI-Labs layout: wrapper prefixes stripped, a whole detection /
    segmentation model's backbone selected (:func:`select_backbone`), HF names converted; and notes."""
    sd, notes = select_backbone(_strip_prefix(sd))
    if is_hf_state_dict(sd):
        sd = hf_to_original(sd)
    return sd, notes


def load_state_dict_strict(model: NAT, sd: dict, origin: str) -> list[str]:
    """Load with every key and shape checked; one error naming the first few problems and the built-in
    variants the checkpoint's tensors fit. A backbone ``model`` takes a backbone checkpoint (HF, OneFormer /
    Mask2Former, mmdet / mmseg, detectron2) or a classifier's weights (:func:`_as_backbone_weights`).

    Returns:
        Notes for the user (what was selected, dropped or initialised).

    Raises:
        CheckpointError: keys or shapes that do not match the model.
    """
    sd, notes = to_original_layout(sd)
    if model.config.is_backbone:
        sd, more = _as_backbone_weights(model, sd)
        notes += more
    own = model.state_dict()
    missing, unexpected = own.keys() - sd.keys(), sd.keys() - own.keys()
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own.keys() & sd.keys()
        if sd[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_first(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_first(shapes, 3)}")
    if problems:
        fits = fitting_variants(sd)
        fix = (
            f"its tensors fit --model {' or '.join(fits)}"
            if fits
            else "check --model (variant or config.json) against the checkpoint"
        )
        raise CheckpointError(
            f"{origin} does not match the model architecture ({'; '.join(problems)}; {_tensor_facts(sd)}); {fix}"
        )
    model.load_state_dict(sd, strict=True)
    return notes


# ----------------------------------------------------------------------------- reading files


def _torch_load(path: Path):
    """``torch.load`` with ``weights_only=True``; ``argparse.Namespace`` (timm's ``args``) is allowed."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        if m is None:
            raise CheckpointError(
                f"cannot read weights file {path} (not a PyTorch checkpoint); pass a .pth/.bin/.safetensors state dict"
            ) from None
        raise CheckpointError(
            f"{path} holds an object of type {m[1]}, which nat-export does not unpickle (it loads weights only, "
            "never arbitrary code); save the state dict alone: torch.save(checkpoint['state_dict'], 'weights.pth')"
        ) from None
    except Exception as e:  # corrupt or foreign file formats
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        first = re.sub(r"\x1b\[[0-9;]*m", "", first)[:200]
        raise CheckpointError(
            f"cannot read weights file {path} ({type(e).__name__}: {first}); pass a .pth/.bin/.safetensors state dict"
        ) from None


def _is_tensor_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _unwrap(obj, depth: int = 0):
    """A state dict inside nested regular-weight wrappers ({"model": {"state_dict": ...}})."""
    if _is_tensor_dict(obj) or depth > 3 or not isinstance(obj, dict):
        return obj
    for key in REGULAR_KEYS:
        if isinstance(obj.get(key), dict):
            return _unwrap(obj[key], depth + 1)
    return obj


def read_checkpoint(path: str | Path, ema: bool = False, meta: dict | None = None) -> tuple[dict, list[str]]:
    """The weights in a checkpoint file, and notes for the user.

    Reads plain state dicts (``.pth``/``.bin``/``.safetensors``) and the containers training code writes:
    ``state_dict`` / ``model`` / ... wrappers with optional EMA weights beside them (``state_dict_ema``,
    ``model_ema``; timm's ``train.py`` also pickles its ``argparse.Namespace`` ``args``, which is allowed
    through ``torch.serialization.safe_globals``, never ``weights_only=False``), EMA-only files, and
    ``module.``-prefixed DDP / ``AveragedModel`` state dicts (whose ``n_averaged`` counter is dropped).

    Args:
        ema: take the EMA weights (an error when the file has none); otherwise the regular weights, or the
            EMA weights when they are the only ones (a note says which).
        meta: filled with the container's ``meta`` dict when it has one (mmcv: ``config``, versions, epoch).

    Returns:
        (state dict name -> tensor, notes).

    Raises:
        CheckpointError: a missing or unreadable file, no tensors, or ``ema`` without EMA weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} not found; pass an existing .pth/.bin/.safetensors file")
    notes: list[str] = []
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            obj = load_file(str(path))
        except Exception as e:  # noqa: BLE001 - safetensors raises several types for bad files
            raise CheckpointError(f"cannot read weights file {path} ({type(e).__name__}); pass a valid file") from None
    else:
        obj = _torch_load(path)
    if meta is not None and isinstance(obj, dict) and isinstance(obj.get("meta"), dict):
        meta.update(obj["meta"])
    averaged = isinstance(obj, dict) and any(k in obj for k in _WRAPPER_EXTRAS)
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k not in _WRAPPER_EXTRAS}
    if _is_tensor_dict(obj):
        if ema and not averaged:
            raise CheckpointError(
                f"--ema: {path} holds one set of weights, no EMA copy (state_dict_ema / model_ema); leave out --ema"
            )
        sd = obj
    elif isinstance(obj, dict):
        ema_key = next((k for k in EMA_KEYS if isinstance(obj.get(k), dict)), None)
        regular = _unwrap(obj)
        has_regular = regular is not obj
        if ema:
            if ema_key is None:
                raise CheckpointError(f"--ema: {path} has no EMA weights ({' / '.join(EMA_KEYS[:2])}); leave out --ema")
            sd = _unwrap(obj[ema_key])
            notes.append(f"loaded the EMA weights ({ema_key}) of {path.name}")
        elif has_regular:
            sd = regular
            if ema_key is not None:
                notes.append(f"{path.name} also holds EMA weights ({ema_key}); --ema loads them instead")
        elif ema_key is not None:
            sd = _unwrap(obj[ema_key])
            notes.append(f"{path.name} holds only EMA weights ({ema_key}); loaded them")
        else:
            sd = obj
    else:
        sd = obj
    if isinstance(sd, dict):
        sd = {k: v for k, v in sd.items() if k not in _WRAPPER_EXTRAS}
    if not _is_tensor_dict(sd):
        keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{path} holds no state dict of tensors (found: {keys}); pass a state dict, or a checkpoint with "
            f"one of {', '.join(REGULAR_KEYS + EMA_KEYS)}"
        )
    return _strip_prefix(sd), notes


def read_state_dict(path: Path) -> dict:
    """The regular weights of a checkpoint file (:func:`read_checkpoint` without its notes).

    Raises:
        CheckpointError: see :func:`read_checkpoint`.
    """
    return read_checkpoint(path)[0]


def build_model(config: NatConfig) -> NAT:
    return NAT(config).eval()


# ----------------------------------------------------------------------------- preprocessing


#: PIL resampling codes in HF image processor configs.
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def hf_preprocessing(folder: str | Path) -> tuple[Preprocessing | None, list[str]]:
    """The recipe in a checkpoint folder's ``preprocessor_config.json`` (HF ``ViTImageProcessor`` /
    ``ViTFeatureExtractor`` keys), or None when there is none; and notes.

    ``size`` as an int or ``{"height", "width"}`` is a resize to exactly that size (no crop);
    ``{"shortest_edge"}`` with ``do_center_crop`` / ``crop_size`` is a shorter-side resize and a center crop.
    ``resample`` is PIL's code (3: bicubic); defaults are ``ViTImageProcessor``'s.

    Raises:
        ConfigError: a file that is not JSON, or values of the wrong type.
    """
    path = Path(folder) / HF_PREPROCESSOR_FILE
    if not path.is_file():
        return None, []
    d = read_json_object(path, "preprocessor config")

    def bad(key, expected) -> ConfigError:
        return ConfigError(f"{path}: {key} must be {expected}, got {d.get(key)!r}; fix {key}")

    def side(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    resample = d.get("resample", 2)
    if resample not in _PIL_RESAMPLE:
        raise bad("resample", f"a PIL filter code nat-export applies ({', '.join(map(str, _PIL_RESAMPLE))})")
    interp = _PIL_RESAMPLE[resample]
    assert interp in INTERPOLATIONS
    kw: dict = {"interpolation": interp}
    if d.get("do_rescale", True):
        factor = d.get("rescale_factor", 1 / 255)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise bad("rescale_factor", "a positive number")
        kw["scale"] = float(factor)
    else:
        kw["scale"] = 1.0
    if d.get("do_normalize", True):
        for key, name in (("image_mean", "mean"), ("image_std", "std")):
            v = d.get(key, [0.5, 0.5, 0.5])
            v = [v] if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            if not isinstance(v, list) or not v or not all(isinstance(x, (int, float)) for x in v):
                raise bad(key, "a list of numbers")
            if name == "std" and min(v) <= 0:
                raise bad(key, "positive numbers")
            kw[name] = tuple(float(x) for x in v)
    else:
        kw["mean"], kw["std"] = (0.0,), (1.0,)
    size = d.get("size", {"height": 224, "width": 224})
    crop = d.get("crop_size")
    if not d.get("do_resize", True):
        return None, [f"{path.name} does not resize images; recording the ImageNet recipe instead"]
    if side(size):
        return Preprocessing.exact((size, size), **kw), []
    if isinstance(size, dict) and side(size.get("height")) and side(size.get("width")):
        return Preprocessing.exact((size["height"], size["width"]), **kw), []
    if isinstance(size, dict) and side(size.get("shortest_edge")):
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        if d.get("do_center_crop") and isinstance(crop, dict) and side(crop.get("height")) and side(crop.get("width")):
            return Preprocessing(
                center_crop=(crop["height"], crop["width"]), resize_shorter_side=size["shortest_edge"], **kw
            ), []
        return None, [f"{path.name} resizes to a shortest edge without a crop; recording the ImageNet recipe instead"]
    raise bad("size", "an integer or {height, width} or {shortest_edge} (with crop_size)")


# ----------------------------------------------------------------------------- configs and folders


def resolve_config(model: str | Path | NatConfig | None) -> tuple[NatConfig, str]:
    """A variant name, a config.json path, or a NatConfig -> (config, display name).

    A config.json's folder may hold ``preprocessor_config.json``: its recipe is attached.

    Raises:
        ConfigError: an unknown variant, a missing or invalid config file.
    """
    if isinstance(model, NatConfig):
        return model, "custom"
    model = str(model or DEFAULT_VARIANT)
    path = Path(model)
    if model.endswith(".json") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file {model} not found; pass a variant name or an existing config.json")
        config = NatConfig.from_json_file(path)
        pp, _ = hf_preprocessing(path.parent)
        return (config.with_(preprocessing=pp) if pp is not None else config), model
    return variant_config(model), get_variant(model).name


def _load_hf_folder(folder: Path, out_features=None) -> tuple[NAT, list[str]]:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(
            f"{folder} has no config.json; an HF checkpoint folder holds config.json + model.safetensors"
        )
    raw = read_json_object(cfg_path)
    config = NatConfig.from_dict(raw, str(cfg_path))
    notes = []
    if raw.get("model_type") in COMPOSITE_MODEL_TYPES:
        arch = (raw.get("architectures") or [raw["model_type"]])[0]
        notes.append(
            f"{folder} is a {arch} checkpoint: exporting its {'DiNAT' if config.kind == 'dinat' else 'NAT'} backbone "
            "only (the pixel and transformer decoders stay in PyTorch)"
        )
    if out_features is not None:
        config = config.as_backbone(out_features)
    pp, more = hf_preprocessing(folder)
    notes += more
    if pp is not None:
        config = config.with_(preprocessing=pp)
    for name in HF_WEIGHT_FILES:
        if (folder / name).is_file():
            model = build_model(config)
            sd, more = read_checkpoint(folder / name)
            more += load_state_dict_strict(model, sd, str(folder / name))
            return model, notes + more
    raise CheckpointError(f"{folder} has no {' or '.join(HF_WEIGHT_FILES)}; pass a complete checkpoint folder")


def load_hf_folder(folder: str | Path) -> NAT:
    """The model in an HF checkpoint folder (``config.json`` + weights, optional ``preprocessor_config.json``).

    Raises:
        ConfigError / CheckpointError: an invalid config, missing or mismatching weights.
    """
    return _load_hf_folder(Path(folder))[0]


def download_hub(repo_id: str, revision: str | None = None, offline: bool = False) -> Path:
    """Snapshot of an HF hub repo: from the local cache first (offline), else downloaded (unless ``offline``).

    Raises:
        CheckpointError: the repo (or revision) is neither cached nor reachable, or not cached and ``offline``.
    """
    from huggingface_hub import snapshot_download

    patterns = ["config.json", HF_PREPROCESSOR_FILE, *HF_WEIGHT_FILES]
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=True))
    except Exception:
        if offline:
            raise CheckpointError(
                f"{repo_id!r} is not in the local Hugging Face cache, and nat-export does not download what a model "
                f"file names; pass --from-pretrained {repo_id} to fetch it"
            ) from None
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except Exception as e:
        at = f" at revision {revision}" if revision else ""
        raise CheckpointError(
            f"cannot get {repo_id!r}{at} from the Hugging Face hub ({type(e).__name__}); check the id, the network, "
            "or download it once where the hub is reachable (it is then read offline from the cache)"
        ) from None


def _snapshot_revision(snapshot: Path) -> str | None:
    return snapshot.name if snapshot.parent.name == "snapshots" else None


# ----------------------------------------------------------------------------- the entry point


def _check_published_file(weights: str, model, config: NatConfig) -> Variant | None:
    """A published file name loaded with another variant (or a config of another architecture) is an error:
    dilations and resolution cannot be read from the tensors."""
    published = variant_for_file(weights)
    if published is None:
        return None
    fix = f"use --model {published.name}"
    if isinstance(model, str) and model in VARIANTS and model != published.name:
        chosen = VARIANTS[model]
        raise CheckpointError(
            f"{Path(weights).name} is the published {published.name} checkpoint ({published.resolution}px, kernel "
            f"{published.config.kernel_size}, dilations {_dil(published.config)}), not {model} "
            f"({chosen.resolution}px, kernel {chosen.config.kernel_size}, dilations {_dil(chosen.config)}); {fix}"
        )
    if config.architecture() != published.config.architecture():
        diff = [k for k, v in published.config.architecture().items() if config.architecture()[k] != v]
        raise CheckpointError(
            f"{Path(weights).name} is the published {published.name} checkpoint, and {model} differs from it in "
            f"{', '.join(diff)}; {fix}"
        )
    return published


def _dil(config: NatConfig) -> str:
    if config.dilations is None:
        return "1"
    return "/".join(str(max(d)) for d in config.dilations[:3])


def _abs(p) -> str:
    return str(Path(p).expanduser().resolve())


def _with_override(config: NatConfig, preprocess: dict | None) -> NatConfig:
    if not preprocess:
        return config
    base = config.preprocessing or Preprocessing.imagenet((224, 224))
    return config.with_(preprocessing=base.override(**preprocess))


def load_model(
    model=None,
    *,
    from_pretrained: str | None = None,
    weights: str | None = None,
    ema: bool = False,
    revision: str | None = None,
    preprocess: dict | None = None,
    offline: bool = False,
    backbone: bool = False,
    out_features=None,
) -> LoadedModel:
    """The one entry point: a named variant (random init), an HF folder / hub id, or a weights file.

    ``weights`` needs ``model`` (a variant or config.json) unless its file name is a published one (then that
    variant is used): a ``.pth`` file does not record the architecture, and DiNAT dilations cannot be read
    from tensor shapes.

    Args:
        model: a variant name, a config.json path or a :class:`NatConfig`.
        from_pretrained: an HF hub id (``revision``: a branch, tag or commit) or checkpoint folder.
        weights: a state dict or training checkpoint (:func:`read_checkpoint`).
        ema: load a checkpoint's EMA weights.
        preprocess: overrides of the recipe (:meth:`Preprocessing.override` keywords).
        offline: a hub id is read from the local cache only (for sources a model file records: metadata is
            data, never an instruction to download).
        backbone: build the backbone (feature maps of every stage, or of ``out_features``) even from a
            classifier. Backbone checkpoints (HF ``NatBackbone`` / ``DinatBackbone``, whole OneFormer /
            Mask2Former folders, mmdet / mmseg / detectron2 files with per-stage norms) are backbones anyway.
        out_features: the stages a backbone outputs (``stage1`` .. ``stage4``), overriding the checkpoint's.

    Returns:
        The model, with ``model.config.preprocessing`` the checkpoint's recipe: its ``preprocessor_config.json``,
        else the variant's published recipe, with ``preprocess`` applied.

    Raises:
        ConfigError: an unknown variant, an invalid config, or arguments that do not go together.
        CheckpointError: a checkpoint that cannot be read, whose keys / shapes do not match the model, or
            whose published file name belongs to another variant.
    """
    if from_pretrained and weights:
        raise ConfigError("use either --from-pretrained or --weights, not both; drop one of them")
    if ema and not weights:
        raise ConfigError(
            "--ema picks the EMA weights of a --weights checkpoint; pass --weights FILE or leave out --ema"
        )
    if from_pretrained:
        path = Path(from_pretrained)
        want = out_features or (() if backbone else None)
        if path.is_dir():
            net, notes = _load_hf_folder(path, want)
            net.config = _with_override(net.config, preprocess)
            spec = {"from_pretrained": _abs(path)}
            return LoadedModel(net, str(from_pretrained), "hf", _spec(spec, preprocess, net), notes)
        if path.is_file() or path.suffix in (".pth", ".pt", ".bin", ".safetensors"):
            raise CheckpointError(
                f"{from_pretrained} is not a checkpoint folder; pass weights files with --weights FILE --model VARIANT"
            )
        snapshot = download_hub(from_pretrained, revision, offline=offline)
        net, notes = _load_hf_folder(snapshot, want)
        net.config = _with_override(net.config, preprocess)
        spec = {"from_pretrained": str(from_pretrained), "revision": _snapshot_revision(snapshot) or revision}
        return LoadedModel(net, str(from_pretrained), "hub", _spec(spec, preprocess, net), notes)
    if weights:
        notes: list[str] = []
        meta: dict = {}
        recorded = None
        if Path(weights).is_file() and variant_for_file(weights) is None:
            sd, more = read_checkpoint(Path(weights), ema=ema, meta=meta)
            recorded = backbone_config_from_meta(meta, str(weights))
        if model is None and recorded is not None:
            model = recorded
            notes.append(f"the architecture is the backbone {Path(weights).name} records in its meta['config']")
        elif model is None:
            published = variant_for_file(weights)
            if published is None:
                raise ConfigError(
                    "--weights needs --model: the file does not say which architecture it holds; add --model "
                    "NAME (a variant such as nat-tiny / dinat-tiny) or --model config.json"
                )
            model = published.name
            notes.append(f"{Path(weights).name} is the published {model} checkpoint; using --model {model}")
        config, name = resolve_config(model)
        _check_published_file(str(weights), model, config)
        if recorded is None:
            sd, more = read_checkpoint(Path(weights), ema=ema)
        else:
            _check_recorded(config, recorded, str(weights))
        config = _with_override(config, preprocess)
        config, auto = _backbone_for_weights(config, sd, backbone, out_features)
        net = build_model(config)
        more += auto + load_state_dict_strict(net, sd, str(weights))
        if isinstance(model, NatConfig):  # recorded in the checkpoint: the weights alone rebuild it
            name, spec = Path(weights).name, {"weights": _abs(weights)}
        else:
            m = _abs(model) if isinstance(model, (str, Path)) and Path(model).is_file() else str(model)
            spec = {"model": m, "weights": _abs(weights)}
        if ema:
            spec["ema"] = True
        return LoadedModel(net, name, "original", _spec(spec, preprocess, net), notes + more)
    config, name = resolve_config(model)
    config = _with_override(config, preprocess)
    if backbone or out_features:
        config = config.as_backbone(out_features)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)  # the same "random" model every time, so validate can rebuild it
        net = build_model(config)
    m = model if isinstance(model, NatConfig) else model
    if isinstance(m, (str, Path)) and Path(m).is_file():
        m = _abs(m)
    return LoadedModel(net, name, "random", _spec({"model": str(m or name)}, preprocess, net))


def _check_recorded(config: NatConfig, recorded: NatConfig, weights: str) -> None:
    """A --model that contradicts the architecture a checkpoint records (mmcv ``meta['config']``) is an error:
    the tensors fit both, the outputs would not."""
    mine, theirs = config.architecture(), recorded.architecture()
    diff = [k for k in theirs if k not in ("out_features", "num_classes") and mine[k] != theirs[k]]
    if diff:
        shown = ", ".join(f"{k} {theirs[k]}" for k in diff)
        raise CheckpointError(
            f"{weights} records its backbone in meta['config'] ({shown}), which --model contradicts; leave out "
            "--model to use the recorded one"
        )


def _backbone_for_weights(config: NatConfig, sd: dict, backbone: bool, out_features) -> tuple[NatConfig, list[str]]:
    """The config a weights file loads into: a backbone when asked, or when the file is one (per-stage output
    norms ``norm{i}`` and no head: the SHI-Labs mmdet / mmseg / detectron2 backbones), with the stages it has
    norms for unless ``out_features`` says otherwise."""
    layout, _ = to_original_layout(sd)
    levels = [i for i in output_norm_levels(layout) if i < config.num_levels]
    is_backbone_file = bool(levels) and "head.weight" not in layout
    if not (backbone or out_features or is_backbone_file or config.is_backbone):
        return config, []
    default = [config.stage_names[i] for i in levels] if levels else None
    notes = []
    if is_backbone_file and not (backbone or config.is_backbone):
        notes.append(f"the weights are a backbone (output norms {', '.join(f'norm{i}' for i in levels)}, no head)")
    return config.as_backbone(out_features or (None if config.is_backbone else default)), notes


def _spec(spec: dict, preprocess: dict | None, net: NAT) -> dict:
    if net.config.is_backbone:
        spec["out_features"] = list(net.config.out_features)
    if preprocess:
        spec["preprocess"] = dict(preprocess)
    return {k: v for k, v in spec.items() if v is not None}
