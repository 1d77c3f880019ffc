"""Optimization profiles from command-line shapes (pure functions)."""

from __future__ import annotations

import pytest

from nat_export.tensorrt.profiles import (
    DEFAULT_BATCH_PROFILE,
    DEFAULT_BATCH_PROFILE_DYNAMIC_HW,
    ProfileError,
    parse_shape_arg,
    profiles_from_args,
)

DYN_BATCH = {"pixel_values": ["batch", 3, 224, 224]}
DYN_ALL = {"pixel_values": ["batch", 3, "height", "width"]}


def shapes(profiles, name="pixel_values"):
    assert len(profiles) == 1
    return profiles[0].shapes[name]


def test_default_dynamic_batch():
    lo, op, hi = shapes(profiles_from_args(DYN_BATCH))
    assert (lo[0], op[0], hi[0]) == DEFAULT_BATCH_PROFILE
    assert lo[1:] == op[1:] == hi[1:] == (3, 224, 224)


def test_static_input_is_its_own_profile():
    assert shapes(profiles_from_args({"x": [2, 3, 64, 64]}), "x") == ((2, 3, 64, 64),) * 3


def test_fixed_batch():
    assert shapes(profiles_from_args(DYN_BATCH, batch=16)) == ((16, 3, 224, 224),) * 3


def test_batch_only_min_opt_max():
    lo, op, hi = shapes(profiles_from_args(DYN_BATCH, min_shapes="1", opt_shapes="64", max_shapes="128"))
    assert (lo, op, hi) == ((1, 3, 224, 224), (64, 3, 224, 224), (128, 3, 224, 224))


def test_missing_opt_is_max_and_missing_min_is_batch_one():
    lo, op, hi = shapes(profiles_from_args(DYN_BATCH, max_shapes="32"))
    assert (lo[0], op[0], hi[0]) == (1, 32, 32)
    lo, op, hi = shapes(profiles_from_args(DYN_BATCH, opt_shapes="8"))
    assert (lo[0], op[0], hi[0]) == (1, 8, 8)


def test_full_and_named_shapes_for_dynamic_resolution():
    p = profiles_from_args(
        DYN_ALL, min_shapes="pixel_values:1x3x224x224", opt_shapes="8x3x384x384", max_shapes="16x3x512x512"
    )
    assert shapes(p) == ((1, 3, 224, 224), (8, 3, 384, 384), (16, 3, 512, 512))
    assert p[0].to_json()["pixel_values"]["opt"] == [8, 3, 384, 384]


def test_dynamic_resolution_defaults_span_32_to_twice_the_recorded_size():
    """A --dynamic-resolution file without full shapes: H, W min 32x32, opt the recorded size, max twice it
    (capped at 4096), batch 1 / 1 / 8; the profile says so (it goes into the sidecar)."""
    p = profiles_from_args(DYN_ALL, resolution=[640, 2400])
    assert shapes(p) == ((1, 3, 32, 32), (1, 3, 640, 2400), (8, 3, 1280, 4096))
    assert DEFAULT_BATCH_PROFILE_DYNAMIC_HW == (1, 1, 8)
    assert "min 32x32, opt 640x2400 (the recorded resolution), max 1280x4096" in p[0].defaults
    assert shapes(profiles_from_args(DYN_ALL, batch=4, resolution=[256, 192])) == (
        (4, 3, 32, 32),
        (4, 3, 256, 192),
        (4, 3, 512, 384),
    )
    lo, op, hi = shapes(profiles_from_args(DYN_ALL, min_shapes="2", max_shapes="16", resolution=[512, 512]))
    assert (lo, op, hi) == ((2, 3, 32, 32), (16, 3, 512, 512), (16, 3, 1024, 1024))
    full = profiles_from_args(DYN_ALL, opt_shapes="2x3x512x512", max_shapes="4x3x1024x1024", resolution=[512, 512])
    assert shapes(full) == ((1, 3, 512, 512), (2, 3, 512, 512), (4, 3, 1024, 1024)) and full[0].defaults is None
    assert profiles_from_args(DYN_BATCH).pop().defaults is None


def test_sidecar_records_the_profile_defaults():
    from nat_export.onnx.metadata import ModelDescription
    from nat_export.tensorrt.precision import PrecisionPlan
    from nat_export.tensorrt.sidecar import make_sidecar

    p = profiles_from_args(DYN_ALL, resolution=[640, 640])
    plan = PrecisionPlan("fp16", True, "fp16", None, "")
    data = make_sidecar(
        engine_path="m.engine",
        onnx_path="m.onnx",
        description=ModelDescription(resolution=(640, 640)),
        plan=plan,
        tensorrt_version="10.14",
        profiles=p,
        inputs=[],
        outputs=[],
    )
    assert data["profile_defaults"] == p[0].defaults
    assert data["profiles"][0]["pixel_values"]["max"] == [8, 3, 1280, 1280]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch=2, max_shapes="8"), "either --batch or"),
        (dict(batch=0), ">= 1"),
        (dict(min_shapes="4"), "--min needs --max"),
        (dict(min_shapes="16", max_shapes="8"), "min <= opt <= max"),
        (dict(max_shapes="8x3x256x256"), "fixes it to 224"),
        (dict(max_shapes="8x3x224"), "gives 3 dims"),
        (dict(max_shapes="other:8"), "names input 'other'"),
        (dict(max_shapes="8xa"), "not N"),
        (dict(max_shapes="0"), "positive"),
    ],
)
def test_profile_errors(kwargs, match):
    with pytest.raises(ProfileError, match=match):
        profiles_from_args(DYN_BATCH, **kwargs)


def test_dynamic_axes_without_shapes_or_resolution():
    with pytest.raises(ProfileError, match="dynamic axis 2"):
        profiles_from_args(DYN_ALL, batch=2)


def test_fixed_batch_onnx_refuses_another_batch():
    with pytest.raises(ProfileError, match="fixed batch of 2"):
        profiles_from_args({"x": [2, 3, 64, 64]}, batch=4)


def test_unnamed_shape_with_two_inputs():
    with pytest.raises(ProfileError, match="name the one"):
        profiles_from_args({"a": ["N", 3], "b": ["N", 3]}, max_shapes="4x3")


def test_parse_shape_arg():
    assert parse_shape_arg("8") == {None: (8,)}
    assert parse_shape_arg("a:1x3x4x4, b:2x3") == {"a": (1, 3, 4, 4), "b": (2, 3)}
    assert parse_shape_arg(None) == {}
    with pytest.raises(ProfileError, match="given twice"):
        parse_shape_arg("a:1,a:2")
