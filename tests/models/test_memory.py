"""Up-front memory estimates: huge runs are refused in seconds, with the estimate and the flag to go on."""

from __future__ import annotations

import pytest

from nat_export.models import variant_config
from nat_export.models.memory import MemoryCheckError, check_memory, forward_bytes


def test_estimate_grows_with_batch_and_pixels():
    cfg = variant_config("nat-tiny")
    one = forward_bytes(cfg, 1, 224, 224)
    assert 4 << 20 < one < 512 << 20  # tens of MiB for one 224 image
    assert forward_bytes(cfg, 8, 224, 224) == pytest.approx(8 * one, rel=0.01)
    assert forward_bytes(cfg, 1, 10000, 10000) > 1000 * one


def test_check_memory_refuses_with_the_estimate():
    check_memory(1 << 20, "x", available=1 << 30)
    with pytest.raises(MemoryCheckError, match=r"needs about 16.0 GiB .* 1.0 GiB available.*--no-memory-check"):
        check_memory(16 << 30, "exporting", available=1 << 30)


@pytest.mark.parametrize(
    "argv",
    [
        ["onnx", "OUT", "--model", "nat-mini", "--resolution", "10000x10000"],
        ["bench", "--torch", "--model", "nat-mini", "--resolution", "10000", "--batch-sizes", "1"],
    ],
)
def test_cli_refuses_runs_that_cannot_fit(run_cli, tmp_path, monkeypatch, argv):
    import nat_export.models.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 8 << 30)
    argv = [str(tmp_path / "m.onnx") if a == "OUT" else a for a in argv]
    code, _, err = run_cli(*argv)
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 1 and len(errors) == 1 and "--no-memory-check" in errors[0] and "Traceback" not in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("change", [{"depths": [1, 1, 100000, 1]}, {"embed_dim": 1000000}])
def test_a_model_too_big_to_build_is_refused_before_allocating(change):
    import dataclasses

    from nat_export.models import NAT

    cfg = dataclasses.replace(
        variant_config("nat-mini"), **{k: tuple(v) if isinstance(v, list) else v for k, v in change.items()}
    )
    with pytest.raises(MemoryCheckError, match="parameters alone need"):
        NAT(cfg)


def test_param_estimate_is_close_to_the_real_count():
    import torch

    from nat_export.models import NAT
    from nat_export.models.memory import param_bytes

    cfg = variant_config("nat-tiny")
    with torch.device("meta"):
        real = sum(p.numel() for p in NAT(cfg).parameters()) * 4
    assert 0.8 * real < param_bytes(cfg) < 1.2 * real


def test_param_estimate_counts_the_relative_positional_bias():
    """Each layer's rpb is heads x (2K-1)^2: kernel 4097 is tens of GiB however small the rest is."""
    import dataclasses

    from nat_export.models.memory import param_bytes

    cfg = variant_config("nat-mini")
    huge = dataclasses.replace(cfg, kernel_size=4097)
    layers_heads = sum(d * h for d, h in zip(cfg.depths, cfg.num_heads))
    assert param_bytes(huge) - param_bytes(cfg) == 4 * layers_heads * (8193**2 - 13**2)
