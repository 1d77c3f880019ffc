"""Every published checkpoint loads right or not at all: the built-in variants (table), published file names,
the tensors' own shapes, training-checkpoint containers (EMA, DDP / AveragedModel, timm's args), the recipe per
checkpoint, and the recorded source."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest
import torch

from nat_export.models import NAT, VARIANTS, CheckpointError, ConfigError, load_model, variant_config
from nat_export.models.loading import hf_preprocessing, load_state_dict_strict, read_checkpoint
from nat_export.models.variants import IN22K_CLASSES, variant_for_file
from nat_export.onnx.metadata import MetadataError

from ..conftest import FIXTURES

EMA = FIXTURES / "cases" / "ema_training_checkpoint"

# name: (published params M, hub id, original file, resolution, crop_pct, kernel, dilations of levels 0-2, classes)
TABLE = {
    "nat-mini": (20, "shi-labs/nat-mini-in1k-224", "nat_mini.pth", 224, 0.875, 7, None, 1000),
    "nat-tiny": (28, "shi-labs/nat-tiny-in1k-224", "nat_tiny.pth", 224, 0.875, 7, None, 1000),
    "nat-small": (51, "shi-labs/nat-small-in1k-224", "nat_small.pth", 224, 0.875, 7, None, 1000),
    "nat-base": (90, "shi-labs/nat-base-in1k-224", "nat_base.pth", 224, 0.875, 7, None, 1000),
    "dinat-mini": (20, "shi-labs/dinat-mini-in1k-224", "dinat_mini_in1k_224.pth", 224, 0.875, 7, (8, 4, 2), 1000),
    "dinat-tiny": (28, "shi-labs/dinat-tiny-in1k-224", "dinat_tiny_in1k_224.pth", 224, 0.875, 7, (8, 4, 2), 1000),
    "dinat-small": (51, "shi-labs/dinat-small-in1k-224", "dinat_small_in1k_224.pth", 224, 0.875, 7, (8, 4, 2), 1000),
    "dinat-base": (90, "shi-labs/dinat-base-in1k-224", "dinat_base_in1k_224.pth", 224, 0.875, 7, (8, 4, 2), 1000),
    "dinat-large": (
        200,
        "shi-labs/dinat-large-in22k-in1k-224",
        "dinat_large_in22k_in1k_224.pth",
        224,
        0.875,
        7,
        (8, 4, 2),
        1000,
    ),
    "dinat-large-384": (
        200,
        "shi-labs/dinat-large-in22k-in1k-384",
        "dinat_large_in22k_in1k_384.pth",
        384,
        1.0,
        7,
        (13, 6, 3),
        1000,
    ),
    "dinat-large-11x11-384": (
        200,
        "shi-labs/dinat-large-11x11-in22k-in1k-384",
        "dinat_large_in22k_in1k_384_11x11.pth",
        384,
        1.0,
        11,
        (8, 4, 2),
        1000,
    ),
    # the ImageNet-22k heads: 1536 x 21841 more weights than the 1k head (no published count)
    "dinat-large-in22k": (232, None, "dinat_large_in22k_224.pth", 224, 0.875, 7, (8, 4, 2), IN22K_CLASSES),
    "dinat-large-11x11-in22k": (
        233,
        None,
        "dinat_large_in22k_224_11x11interp.pth",
        224,
        0.875,
        11,
        (8, 4, 2),
        IN22K_CLASSES,
    ),
}


def test_table_covers_every_variant():
    assert set(TABLE) == set(VARIANTS)


@pytest.mark.parametrize("name", list(TABLE))
def test_variant_table(name):
    params_m, hub_id, file, res, crop_pct, kernel, dil, classes = TABLE[name]
    v, cfg = VARIANTS[name], variant_config(name)
    with torch.device("meta"):
        params = sum(p.numel() for p in NAT(cfg).parameters())
    assert abs(params / 1e6 - params_m) < 1.5, params / 1e6
    assert (v.hub_id, v.file, v.resolution, cfg.kernel_size, cfg.num_classes) == (hub_id, file, res, kernel, classes)
    assert v.url.endswith("/" + file) and v.url.startswith("https://shi-labs.com/projects/")
    assert (tuple(max(d) for d in cfg.dilations[:3]) if cfg.dilations else None) == dil
    pp = cfg.preprocessing
    assert pp.center_crop == (res, res) and abs(pp.crop_pct - crop_pct) < 2e-3 and pp.interpolation == "bicubic"
    assert pp.resize_mode == "shorter_side" and pp.color == "RGB"
    assert (len(cfg.labels) if cfg.labels else None) == (1000 if classes == 1000 else None)  # 22k: class indices
    if dil is not None:  # the largest dilation still fits the resolution it was published at: nothing is padded
        assert cfg.min_unpadded_resolution() <= max(res, 224 if kernel == 7 else 352)
    assert variant_for_file(f"/some/where/{file}") is v and variant_for_file(file.upper()) is v


def test_models_command_lists_every_variant(run_cli):
    code, out, _ = run_cli("models", "--json", "-")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == set(VARIANTS)
    assert rows["dinat-large-384"]["resolution"] == 384 and rows["dinat-large-384"]["dilations"][:3] == [13, 6, 3]
    assert rows["dinat-large-11x11-384"]["kernel_size"] == 11
    assert rows["dinat-large-in22k"]["num_classes"] == IN22K_CLASSES and rows["dinat-large-in22k"]["hub_id"] is None
    assert rows["dinat-large-384"]["preprocessing"]["resize_shorter_side"] == 384  # crop_pct 1.0


# ----------------------------------------------------------------------------- published file names


@pytest.mark.parametrize("name", list(TABLE))
def test_published_file_with_another_variant_is_an_error(tmp_path, name):
    """Refused by name, before the file is read (dilations and resolution are not in the tensors)."""
    file = tmp_path / TABLE[name][2]
    others = [n for n in VARIANTS if n != name]
    for other in (others[0], others[-1]):
        with pytest.raises(CheckpointError) as e:
            load_model(other, weights=str(file))
        assert f"use --model {name}" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="not found"):  # the right variant goes on to read the file
        load_model(name, weights=str(file))
    with pytest.raises(CheckpointError, match="not found"):  # and without --model the name selects it
        load_model(weights=str(file))


def test_published_384_file_with_224_variant_names_the_dilations(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_model("dinat-large", weights=str(tmp_path / "dinat_large_in22k_in1k_384.pth"))
    assert "dilations 13/6/3" in str(e.value) and "dilations 8/4/2" in str(e.value)


def test_published_file_with_a_config_of_another_architecture(tmp_path):
    cfg = dict(variant_config("dinat-large").to_dict(), kind="dinat")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="differs from it in dilations; use --model dinat-large-384"):
        load_model(str(path), weights=str(tmp_path / "dinat_large_in22k_in1k_384.pth"))


@pytest.mark.parametrize(
    "file,result",
    [
        ("dinat_s_tiny_1k_224.pth", ConfigError),
        ("nat_isotropic_small_in1k_224.pth", ConfigError),
        ("vitrpb_base_in1k_224.pth", ConfigError),
        ("my_finetuned_dinat.pth", None),
        ("nat_tiny.pth.bak", None),
    ],
)
def test_other_file_names(file, result):
    if result is None:
        assert variant_for_file(file) is None
    else:
        with pytest.raises(result, match="does not build"):
            variant_for_file(file)


def _meta_state_dict(name: str) -> dict:
    with torch.device("meta"):
        return NAT(VARIANTS[name].config).state_dict()


@pytest.mark.parametrize(
    "chosen,actual,words",
    [
        ("dinat-large", "dinat-large-11x11-384", ["kernel 11", "fit --model dinat-large-11x11-384"]),
        ("dinat-large", "dinat-large-in22k", ["21841 classes", "fit --model dinat-large-in22k"]),
        ("dinat-large-384", "dinat-large-11x11-in22k", ["kernel 11", "21841 classes", "dinat-large-11x11-in22k"]),
        ("nat-tiny", "dinat-mini", ["fit --model nat-mini or dinat-mini"]),  # the tensors cannot tell NAT from DiNAT
    ],
)
def test_tensors_that_contradict_the_variant_name_the_one_that_fits(chosen, actual, words):
    with torch.device("meta"):
        model = NAT(VARIANTS[chosen].config)
    with pytest.raises(CheckpointError) as e:
        load_state_dict_strict(model, _meta_state_dict(actual), "weights.pth")
    msg = str(e.value)
    assert all(w in msg for w in words) and "\n" not in msg, msg


# ----------------------------------------------------------------------------- training checkpoints


@pytest.fixture(scope="module")
def hf_params():
    return load_model(from_pretrained=str(EMA / "dinat_a_hf")).model.state_dict()


@pytest.fixture(scope="module")
def ema_params():
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(EMA / "timm_train_checkpoint.pth.tar", weights_only=True)["state_dict_ema"]


def _same(model, params) -> bool:
    sd = model.state_dict()
    return set(sd) == set(params) and all(torch.equal(sd[k], params[k]) for k in sd)


@pytest.mark.parametrize(
    "file,ema,weights,note",
    [
        ("timm_train_checkpoint.pth.tar", False, "regular", "also holds EMA weights (state_dict_ema); --ema"),
        ("timm_train_checkpoint.pth.tar", True, "ema", "loaded the EMA weights (state_dict_ema)"),
        ("averaged_model_ema.pth", False, "regular", None),
        ("ema_only.pth", False, "ema", "holds only EMA weights"),
        ("ema_only.pth", True, "ema", "loaded the EMA weights"),
    ],
)
def test_training_checkpoints_load_bit_for_bit(hf_params, ema_params, file, ema, weights, note):
    """../shared/cases/ema-training-checkpoint: timm train.py (argparse.Namespace args), AveragedModel
    ('module.' + n_averaged), EMA-only files."""
    loaded = load_model(str(EMA / "config.json"), weights=str(EMA / file), ema=ema)
    assert _same(loaded.model, hf_params if weights == "regular" else ema_params)
    assert (note is None and not loaded.notes) or any(note in n for n in loaded.notes), loaded.notes
    assert loaded.spec.get("ema", False) is ema


def test_ddp_and_plain_training_checkpoints(tmp_path, hf_params, ema_params):
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(EMA / "timm_train_checkpoint.pth.tar", weights_only=True)
    torch.save({"model": {"module." + k: v for k, v in ckpt["state_dict"].items()}}, tmp_path / "ddp.pth")
    torch.save(
        {"epoch": 3, "model_ema": {"module." + k: v for k, v in ckpt["state_dict_ema"].items()}}, tmp_path / "m.pth"
    )
    assert _same(load_model(str(EMA / "config.json"), weights=str(tmp_path / "ddp.pth")).model, hf_params)
    assert _same(load_model(str(EMA / "config.json"), weights=str(tmp_path / "m.pth"), ema=True).model, ema_params)
    with pytest.raises(CheckpointError, match="--ema: .* has no EMA weights .*; leave out --ema"):
        load_model(str(EMA / "config.json"), weights=str(tmp_path / "ddp.pth"), ema=True)
    with pytest.raises(ConfigError, match="--ema picks the EMA weights of a --weights checkpoint"):
        load_model("nat-mini", ema=True)


class Unknown:  # pickled by its module path, which torch's weights-only unpickler refuses
    pass


def test_checkpoint_with_other_python_objects_is_one_line(tmp_path):
    torch.save({"state_dict": {"a": torch.zeros(1)}, "cfg": Unknown()}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(tmp_path / "x.pth")
    msg = str(e.value)
    assert "Unknown" in msg and "never arbitrary code" in msg and "\n" not in msg and "\x1b" not in msg, msg
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint\n\x00\x01")
    with pytest.raises(CheckpointError, match="cannot read weights file") as e:
        read_checkpoint(tmp_path / "junk.pth")
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- recipes and sources

VIT_FEATURE_EXTRACTOR = {  # what the shi-labs hub repos hold
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ViTFeatureExtractor",
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "size": 224,
}


def _hf_folder(tmp_path, preprocessor: dict | str | None):
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURES / "nat_micro" / "hf", folder)
    if preprocessor is not None:
        text = preprocessor if isinstance(preprocessor, str) else json.dumps(preprocessor)
        (folder / "preprocessor_config.json").write_text(text)
    return folder


def test_preprocessor_config_gives_hf_recipe(tmp_path):
    from nat_export.export.metadata import recipe

    loaded = load_model(from_pretrained=str(_hf_folder(tmp_path, VIT_FEATURE_EXTRACTOR)))
    pp = loaded.model.config.preprocessing
    assert (pp.resize_mode, pp.center_crop, pp.interpolation, pp.scale) == ("exact", (224, 224), "bicubic", 1 / 255)
    at64 = recipe(loaded.model.config, (64, 48))
    assert (at64.resize_mode, at64.center_crop) == ("exact", (64, 48))
    # without the file: the ImageNet evaluation recipe
    assert recipe(load_model(from_pretrained=str(FIXTURES / "nat_micro" / "hf")).model.config, (64, 64)).crop_pct == (
        64 / 73
    )


@pytest.mark.parametrize(
    "pre,expected",
    [
        ({"size": {"height": 256, "width": 192}, "resample": 2}, ("exact", (256, 192), "bilinear")),
        (
            {"size": {"shortest_edge": 256}, "do_center_crop": True, "crop_size": {"height": 224, "width": 224}},
            ("shorter_side", (224, 224), "bilinear"),
        ),
    ],
)
def test_preprocessor_config_variants(tmp_path, pre, expected):
    pp, _ = hf_preprocessing(_hf_folder(tmp_path, pre))
    assert (pp.resize_mode, pp.center_crop, pp.interpolation) == expected
    assert pp.mean == (0.5, 0.5, 0.5)  # ViTImageProcessor's defaults


@pytest.mark.parametrize("text", ["{", '{"resample": 1}', '{"image_std": [0, 1, 1]}', '{"size": "big"}'])
def test_bad_preprocessor_config_is_one_line(tmp_path, text):
    with pytest.raises(ConfigError) as e:
        load_model(from_pretrained=str(_hf_folder(tmp_path, text)))
    assert "preprocessor_config.json" in str(e.value) and "\n" not in str(e.value)


def test_preprocess_override(tmp_path):
    from nat_export.cli.args import parse_preprocess
    from nat_export.cli.errors import UsageError

    over = parse_preprocess(["crop_pct=1.0 interpolation=bilinear", "mean=0.5,0.5,0.5;std=0.25,0.25,0.25"])
    assert over == {"crop_pct": 1.0, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.25] * 3}
    pp = load_model("dinat-mini", preprocess=over).model.config.preprocessing
    assert (pp.crop_pct, pp.interpolation, pp.mean, pp.std) == (1.0, "bilinear", (0.5,) * 3, (0.25,) * 3)
    hf = load_model(from_pretrained=str(_hf_folder(tmp_path, VIT_FEATURE_EXTRACTOR)), preprocess={"crop_pct": 0.9})
    assert hf.model.config.preprocessing.resize_mode == "shorter_side" and hf.spec["preprocess"] == {"crop_pct": 0.9}
    assert load_model("nat-mini", preprocess={"resize": "exact"}).model.config.preprocessing.crop_pct == 1.0
    for bad in (["crop=1"], ["crop_pct"], ["mean=a,b,c"]):
        with pytest.raises(UsageError, match="--preprocess"):
            parse_preprocess(bad)
    for bad in ({"crop_pct": 1.5}, {"resize": "fill"}, {"std": [0, 1, 1]}, {"interpolation": "lanczos"}):
        with pytest.raises(MetadataError, match="--preprocess"):
            load_model("nat-mini", preprocess=bad)


def test_sources_are_absolute_and_rebuild_the_same_model(tmp_path, monkeypatch):
    from nat_export.cli.args import load_from_args

    monkeypatch.chdir(EMA)
    loaded = load_model("config.json", weights="ema_only.pth")
    assert loaded.spec == {"model": str(EMA / "config.json"), "weights": str(EMA / "ema_only.pth")}
    assert load_model(from_pretrained="dinat_a_hf").spec == {"from_pretrained": str(EMA / "dinat_a_hf")}
    monkeypatch.chdir(tmp_path)  # another folder: the recorded source still rebuilds exactly that model
    args = argparse.Namespace(model=None, from_pretrained=None, weights=None, ema=False, preprocess=None)
    again = load_from_args(args, spec=loaded.spec)
    assert _same(again.model, loaded.model.state_dict())


@pytest.mark.parametrize(
    "spec,exc",
    [
        ({"model": "nat-mini", "weights": "/nowhere/w.pth"}, CheckpointError),
        ({"from_pretrained": "/nowhere/ckpt"}, CheckpointError),
        ({"model": "rel/config.json", "weights": "w.pth"}, ConfigError),
        ({}, ConfigError),
        (None, ConfigError),
    ],
)
def test_recorded_source_that_cannot_be_found_is_one_line(spec, exc, monkeypatch, tmp_path):
    import huggingface_hub.constants as c

    from nat_export.cli.args import load_from_args

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    args = argparse.Namespace(model=None, from_pretrained=None, weights=None, ema=False, preprocess=None)
    with pytest.raises(exc) as e:
        load_from_args(args, spec=spec)
    msg = str(e.value)
    assert msg.endswith("name the PyTorch model with --model/--from-pretrained/--weights") and "\n" not in msg, msg
