"""NAT / DiNAT reference models, named variants and checkpoint loading."""

from .config import ConfigError, NatConfig, imagenet_labels
from .loading import CheckpointError, LoadedModel, hf_to_original, load_hf_folder, load_model, load_state_dict_strict
from .nat import NAT
from .variants import DEFAULT_VARIANT, VARIANTS, Variant, get_variant, variant_config

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DEFAULT_VARIANT",
    "LoadedModel",
    "NAT",
    "NatConfig",
    "VARIANTS",
    "Variant",
    "get_variant",
    "hf_to_original",
    "imagenet_labels",
    "load_hf_folder",
    "load_model",
    "load_state_dict_strict",
    "variant_config",
]
