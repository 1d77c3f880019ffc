"""Image preprocessing, top-k, and `nat-export infer` end to end on an exported ONNX (ONNX Runtime, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nat_export.runtime.preprocess import (
    default_preprocessing,
    load_images,
    open_image,
    resize_and_crop,
    save_raw_tensor,
    top_k,
)


def test_exporter_records_the_default_recipe():
    import json

    from nat_export.export.metadata import build_metadata
    from nat_export.models import NatConfig

    for res in ((224, 224), (256, 192), (64, 64)):
        meta = build_metadata("m", NatConfig(), res, "fp32", "plugin")
        pp = json.loads(meta["nat_export.preprocessing"])
        assert pp == default_preprocessing(res)
        assert pp["resize_shorter_side"] == round(min(res) / 0.875) and pp["center_crop"] == list(res)


@pytest.mark.parametrize(
    "size, crop",
    [
        ((120, 90), (64, 64)),
        ((90, 120), (64, 64)),
        ((500, 375), (224, 224)),
        ((300, 300), (256, 192)),
        ((40, 400), (64, 64)),
    ],
)
def test_resize_and_crop_size(size, crop):
    from PIL import Image

    img = Image.new("RGB", size, (10, 20, 30))
    out = resize_and_crop(img, default_preprocessing(crop))
    assert out.size == (crop[1], crop[0])


def test_resize_matches_torchvision_recipe():
    """Shorter side to round(res/0.875) (256 for 224), bicubic, then the center 224 crop."""
    from PIL import Image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (300, 400, 3)).astype(np.uint8))
    ours = np.asarray(resize_and_crop(img, default_preprocessing((224, 224))))
    ref = img.resize((341, 256), Image.BICUBIC)  # int(256 * 400 / 300) = 341
    left, top = int(round((341 - 224) / 2.0)), int(round((256 - 224) / 2.0))
    np.testing.assert_array_equal(ours, np.asarray(ref.crop((left, top, left + 224, top + 224))))


def test_load_images_normalizes(image_file):
    x = load_images([image_file, image_file], default_preprocessing((64, 64)))
    assert x.shape == (2, 3, 64, 64) and x.dtype == np.float32
    assert -2.2 < x.min() and x.max() < 2.7  # (0..1 - mean) / std


def test_bad_images(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "none.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        open_image(bad)


def test_top_k():
    logits = np.array([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 0.0]], np.float32)
    rows = top_k(logits, ["a", "b", "c", "d"], k=3)
    assert [r["label"] for r in rows[0]] == ["b", "d", "c"]
    assert rows[1][0]["index"] == 0 and rows[1][0]["probability"] > 0.9
    assert top_k(logits[0], None, k=10)[0][0]["label"] == "class 1"  # k capped, indices as labels


def test_save_raw_tensor(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    save_raw_tensor(tmp_path / "x.f32", x)
    np.testing.assert_array_equal(np.fromfile(tmp_path / "x.f32", dtype="<f4").reshape(x.shape), x)


def test_infer_onnx_end_to_end(run_cli, micro_onnx, micro_loaded, image_file, tmp_path):
    import torch

    raw = tmp_path / "in.f32"
    code, out, err = run_cli("infer", micro_onnx, image_file, image_file, "--json", "--save-input", raw)
    assert code == 0, err
    res = json.loads(out)
    assert len(res) == 2 and [r["image"] for r in res] == [str(image_file)] * 2
    top = res[0]["top"]
    assert len(top) == 5 and all(t["label"].startswith("LABEL_") for t in top)
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6

    # the same input through PyTorch gives the same top-1
    x = np.fromfile(raw, dtype="<f4").reshape(2, 3, 64, 64)
    with torch.no_grad():
        ref = micro_loaded.model.eval()(torch.from_numpy(x)).numpy()
    assert top[0]["index"] == int(ref[0].argmax())
    assert abs(top[0]["probability"] - top_k(ref[0])[0][0]["probability"]) < 1e-4

    code, out, _ = run_cli("infer", micro_onnx, image_file, "--top", "2")
    assert code == 0 and out.splitlines()[0] == str(image_file) and len(out.splitlines()) == 3
    code, _, err = run_cli("infer", micro_onnx, image_file, "--save-input", raw)
    assert code != 0 and "--force" in err


# ---------------------------------------------------------------- recipes per checkpoint, channels, bit depths

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "cases"


def test_exact_resize_recipe(image_file):
    """HF's recipe (preprocessor_config.json): the whole image resized to the input size, no crop."""
    from PIL import Image

    from nat_export.onnx.metadata import Preprocessing

    pp = Preprocessing.exact((64, 48))
    img = open_image(image_file)
    assert resize_and_crop(img, pp).size == (48, 64)
    x = load_images([image_file], pp)[0]
    ref = (np.asarray(img.resize((48, 64), Image.BICUBIC), np.float32) / 255 - pp.mean) / pp.std
    np.testing.assert_allclose(x, ref.transpose(2, 0, 1), atol=1e-5)


def test_sixteen_bit_gray_is_scaled_not_clipped():
    """A 16-bit PNG gives the tensor of the same picture saved as 8-bit (Pillow's convert would clip it white)."""
    pp = default_preprocessing((64, 64))
    a, b = (load_images([CASES / "image_modes" / f], pp) for f in ("gray8.png", "gray16.png"))
    assert np.abs(a - b).max() * 0.229 * 255 <= 1.01


def test_recipe_follows_the_model_channel_count():
    from nat_export.onnx.metadata import ModelDescription, Preprocessing

    rgb = Preprocessing.imagenet((64, 64))
    gray = rgb.for_channels(1)
    assert gray.color == "L" and gray.channels == 1 and gray.mean == (pytest.approx(0.449),)
    assert load_images([CASES / "gray_1ch_model" / "gray8.png"], gray).shape == (1, 1, 64, 64)
    # a file that recorded an RGB recipe for a 1-channel model (nat-export before this fix) still feeds L images
    assert ModelDescription(preprocessing=rgb).preprocessing_or_default([None, 1, 64, 64]).color == "L"
    with pytest.raises(ValueError, match="1-channel .* or 3-channel"):
        load_images([CASES / "gray_1ch_model" / "gray8.png"], rgb.for_channels(4))


def test_gray_model_exports_validates_and_infers(run_cli, tmp_path):
    """../shared/cases/gray-1ch-model: a num_channels=1 model is validated and `infer` feeds it L images."""
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    out = tmp_path / "g.onnx"
    code, stdout, err = run_cli(
        "onnx", out, "--from-pretrained", CASES / "gray_1ch_model" / "nat_gray_hf", "--portable", "--resolution", 64
    )
    assert code == 0 and "validation passed" in stdout, stdout + err
    pp = ModelDescription.read(onnx.load(str(out))).preprocessing
    assert pp.color == "L" and len(pp.mean) == 1 and len(pp.std) == 1
    code, stdout, err = run_cli("infer", out, CASES / "gray_1ch_model" / "gray8.png", "--json", "-")
    assert code == 0, err
    top = json.loads(stdout)[0]["top"]
    assert len(top) == 3 and {t["label"] for t in top} == {"LABEL_0", "LABEL_1", "LABEL_2"}


def test_infer_preprocess_override(run_cli, micro_onnx, image_file, tmp_path):
    """--preprocess on infer changes the tensor fed (crop_pct 1.0: the whole shorter side is kept)."""
    a, b = tmp_path / "a.f32", tmp_path / "b.f32"
    code, _, err = run_cli("infer", micro_onnx, image_file, "--save-input", a)
    assert code == 0, err
    code, _, err = run_cli("infer", micro_onnx, image_file, "--save-input", b, "--preprocess", "crop_pct=1.0")
    assert code == 0, err
    assert not np.array_equal(np.fromfile(a, dtype="<f4"), np.fromfile(b, dtype="<f4"))
    code, _, err = run_cli("infer", micro_onnx, image_file, "--preprocess", "crop_pct=7")
    assert code == 1 and "crop_pct" in err


def test_extreme_aspect_ratio_is_refused_before_resizing(run_cli, micro_onnx, tmp_path):
    from PIL import Image

    strip = tmp_path / "strip.png"
    Image.new("RGB", (300000, 1)).save(strip)
    code, _, err = run_cli("infer", micro_onnx, strip)
    assert code == 1 and "aspect ratio" in err and err.count("\n") == 1


def test_infer_warns_about_a_random_weights_file(run_cli, image_file, tmp_path):
    from nat_export.export import ExportOptions, export_onnx
    from nat_export.models import load_model

    path = tmp_path / "random.onnx"
    export_onnx(load_model("nat-mini"), path, ExportOptions(resolution=(64, 64), portable=True))
    code, _, err = run_cli("infer", path, image_file)
    assert code == 0 and "random weights" in err
