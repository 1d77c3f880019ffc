"""Build a model and load weights: HF checkpoint folders, hub ids, original SHI-Labs state dicts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import ConfigError, NatConfig
from .nat import NAT
from .variants import DEFAULT_VARIANT, get_variant, variant_config


class CheckpointError(ValueError):
    """Weights that cannot be loaded into the model (missing file, keys or shapes that do not match)."""


RANDOM_SEED = 0


@dataclass
class LoadedModel:
    model: NAT
    name: str  # variant name, hub id or path: what the user asked for
    source: str  # "random", "hf", "hub", "original"
    spec: dict = field(default_factory=dict)  # the load_model arguments that rebuild this model


HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

_HF_LAYER_MAP = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.self.rpb": "attn.rpb",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}
_HF_LAYER_RE = re.compile(r"^encoder\.levels\.(\d+)\.layers\.(\d+)\.(.+)$")


def _strip_prefix(sd: dict) -> dict:
    for prefix in ("module.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def is_hf_state_dict(sd: dict) -> bool:
    return any(k.startswith(("nat.", "dinat.", "embeddings.", "encoder.")) for k in sd)


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
            raise CheckpointError(f"{base}attn: incomplete query/key/value {kind} in the HF checkpoint")
        out[f"{base}attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def _first(keys, n=5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def load_state_dict_strict(model: NAT, sd: dict, origin: str) -> None:
    """Load with every key and shape checked; one error naming the first few problems."""
    sd = _strip_prefix(sd)
    if is_hf_state_dict(sd):
        sd = hf_to_original(sd)
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
        raise CheckpointError(
            f"{origin} does not match the model architecture ({'; '.join(problems)}); "
            "check --model (variant or config.json) against the checkpoint"
        )
    model.load_state_dict(sd, strict=True)


def read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"weights file {path} not found; pass an existing .pth/.bin/.safetensors file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file formats
        raise CheckpointError(f"cannot read weights file {path}: {e}") from None
    for key in ("model", "state_dict", "model_state"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors")
    return obj


def build_model(config: NatConfig) -> NAT:
    return NAT(config).eval()


def resolve_config(model: str | Path | NatConfig | None) -> tuple[NatConfig, str]:
    """A variant name, a config.json path, or a NatConfig -> (config, display name)."""
    if isinstance(model, NatConfig):
        return model, "custom"
    model = str(model or DEFAULT_VARIANT)
    if model.endswith(".json") or Path(model).is_file():
        if not Path(model).is_file():
            raise ConfigError(f"config file {model} not found")
        return NatConfig.from_json_file(model), model
    return variant_config(model), get_variant(model).name


def load_hf_folder(folder: str | Path) -> NAT:
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(
            f"{folder} has no config.json; an HF checkpoint folder holds config.json + model.safetensors"
        )
    config = NatConfig.from_json_file(cfg_path)
    for name in HF_WEIGHT_FILES:
        if (folder / name).is_file():
            model = build_model(config)
            load_state_dict_strict(model, read_state_dict(folder / name), str(folder / name))
            return model
    raise CheckpointError(f"{folder} has no {' or '.join(HF_WEIGHT_FILES)}")


def download_hub(repo_id: str) -> Path:
    """Snapshot of an HF hub repo: from the local cache first (offline), else downloaded."""
    from huggingface_hub import snapshot_download

    patterns = ["config.json", *HF_WEIGHT_FILES]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as e:
        raise CheckpointError(
            f"cannot get {repo_id!r} from the Hugging Face hub ({type(e).__name__}); check the id, the network, "
            "or download it once where the hub is reachable (it is then read offline from the cache)"
        ) from None


def load_model(model=None, *, from_pretrained: str | None = None, weights: str | None = None) -> LoadedModel:
    """The one entry point: a named variant (random init), an HF folder / hub id, or a weights file.

    ``weights`` needs ``model`` (a variant or config.json): a ``.pth`` file does not record
    the architecture, and DiNAT dilations cannot be read from tensor shapes.

    Raises:
        ConfigError: an unknown variant, an invalid config, or arguments that do not go together.
        CheckpointError: a checkpoint that cannot be read or whose keys / shapes do not match the model.
    """
    if from_pretrained and weights:
        raise ConfigError("use either --from-pretrained or --weights, not both")
    if from_pretrained:
        path = Path(from_pretrained)
        spec = {"from_pretrained": str(from_pretrained)}
        if path.is_dir():
            return LoadedModel(load_hf_folder(path), str(path), "hf", spec)
        if path.is_file() or path.suffix in (".pth", ".pt", ".bin", ".safetensors"):
            raise CheckpointError(
                f"{from_pretrained} is not a checkpoint folder; pass weights files with --weights FILE --model VARIANT"
            )
        return LoadedModel(load_hf_folder(download_hub(from_pretrained)), from_pretrained, "hub", spec)
    if weights:
        if model is None:
            raise ConfigError(
                "--weights needs --model (a variant such as nat-tiny / dinat-tiny, or a config.json): "
                "the file does not say which architecture it holds"
            )
        config, name = resolve_config(model)
        sd = read_state_dict(Path(weights))
        net = build_model(config)
        load_state_dict_strict(net, sd, weights)
        return LoadedModel(net, name, "original", {"model": str(model), "weights": str(weights)})
    config, name = resolve_config(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)  # the same "random" model every time, so validate can rebuild it
        net = build_model(config)
    return LoadedModel(net, name, "random", {"model": str(model or name)})
