"""Shared fixtures: paths of the golden fixtures copied from ../shared (the repo tests itself without it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).parent / "fixtures"
MICRO = ("nat_micro", "dinat_micro")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def micro_io(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / name / "io.safetensors"))


def micro_meta(name: str) -> dict:
    return json.loads((FIXTURES / name / "meta.json").read_text())


def micro_config_path(name: str) -> Path:
    return FIXTURES / name / "hf" / "config.json"
