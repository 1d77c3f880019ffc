"""The one metadata schema: written by export, read back by every reader; tampered values are one clear error."""

from __future__ import annotations

import json

import pytest

from nat_export.onnx.metadata import METADATA_PREFIX, MetadataError, ModelDescription, Preprocessing


def test_read_exported_metadata(micro_onnx):
    import onnx

    desc = ModelDescription.read(onnx.load(str(micro_onnx), load_external_data=False))
    assert desc.na_mode == "portable" and desc.dtype == "fp32" and desc.contract_version == "1"
    assert desc.labels[:2] == ["LABEL_0", "LABEL_1"] and isinstance(desc.config, dict)
    assert desc.preprocessing.center_crop == (64, 64) and desc.resolution == (64, 64)
    assert desc.is_nat_export


def test_read_partial_metadata(na_model):
    desc = ModelDescription.read(na_model)
    assert desc.to_json() == {"variant": "na-test", "na_mode": "plugin", "dtype": "fp32"}
    assert not desc.is_nat_export


def test_round_trip_props_and_json():
    desc = ModelDescription(
        variant="v",
        config={"a": 1},
        contract_version="1",
        na_mode="plugin",
        dtype="fp16",
        resolution=(256, 192),
        preprocessing=Preprocessing.imagenet((256, 192)),
        labels=["x", "y"],
        source={"model": "nat-tiny"},
    )
    props = desc.to_props()
    assert all(k.startswith(METADATA_PREFIX) for k in props)
    assert json.loads(props["nat_export.resolution"]) == [256, 192] and props["nat_export.dtype"] == "fp16"
    assert ModelDescription.from_props(props) == desc
    assert ModelDescription.from_json(json.loads(json.dumps(desc.to_json()))) == desc


def test_write_replaces_same_keys(na_model):
    ModelDescription(variant="other", dtype="fp16").write(na_model)
    keys = [p.key for p in na_model.metadata_props]
    assert keys.count("nat_export.variant") == 1 and keys.count("nat_export.dtype") == 1
    assert ModelDescription.read(na_model).variant == "other"


def test_imagenet_recipe():
    pp = Preprocessing.imagenet((224, 224))
    assert pp.resize_shorter_side == 256 and pp.interpolation == "bicubic" and abs(pp.crop_pct - 0.875) < 1e-3
    d = pp.to_dict()
    assert set(d) == {
        "resize_shorter_side",
        "interpolation",
        "center_crop",
        "scale",
        "mean",
        "std",
        "layout",
        "color",
        "resize_mode",
    }
    assert Preprocessing.from_dict(d) == pp


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("resolution", "[0, 224]", "resolution is not"),
        ("resolution", "not json", "not valid JSON"),
        ("labels", '{"a": 1}', "labels is not a list"),
        ("config", "[1]", "config is not a JSON object"),
        ("dtype", "fp64", "dtype is 'fp64'"),
        ("na_mode", "other", "na_mode is 'other'"),
        ("preprocessing", '{"center_crop": [224]}', "center_crop"),
        ("preprocessing", '{"center_crop": [8, 8], "std": [0, 1, 1]}', "preprocessing.std"),
        ("preprocessing", '{"center_crop": [8, 8], "interpolation": "lanczos9"}', "interpolation"),
    ],
)
def test_tampered_metadata_is_one_clear_error(key, value, message):
    with pytest.raises(MetadataError, match=message) as e:
        ModelDescription.from_props({METADATA_PREFIX + key: value}, where="m.onnx")
    assert str(e.value).startswith("m.onnx: ") and "\n" not in str(e.value) and "nat-export onnx" in str(e.value)


def test_unknown_keys_are_kept_as_text():
    desc = ModelDescription.from_props({"nat_export.future_field": "x", "other.key": "y"})
    assert desc.extra == {"future_field": "x"} and desc.to_props() == {"nat_export.future_field": "x"}


def test_default_preprocessing_from_shape():
    assert ModelDescription().preprocessing_or_default([1, 3, 96, 128]).center_crop == (96, 128)
    assert ModelDescription().preprocessing_or_default(["N", 3, "H", "W"]) is None
    assert ModelDescription(resolution=(64, 64)).preprocessing_or_default(None).center_crop == (64, 64)
