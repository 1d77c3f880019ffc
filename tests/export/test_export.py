"""ONNX export: contract nodes, portable graphs, ONNX Runtime parity, metadata, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from nat_export.cli import main
from nat_export.export import DOMAIN, OP_TYPE, ExportOptions, count_na_nodes, export_onnx, to_onnx
from nat_export.export.portable import expand_na_nodes
from nat_export.models import VARIANTS, load_model, variant_config
from nat_export.onnx.metadata import ModelDescription
from nat_export.ort import make_session, run_session
from nat_export.validate import TOLERANCES, compare, passes

from ..conftest import FIXTURES, MICRO, micro_config_path, micro_io, micro_meta


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load_micro(name, fmt):
    if fmt == "hf":
        return load_model(from_pretrained=str(FIXTURES / name / "hf"))
    return load_model(str(micro_config_path(name)), weights=str(FIXTURES / name / "original.pth"))


# The ImageNet-22k variants differ from dinat-large / dinat-large-11x11-384 only in the classifier's size: the
# same NA layers, so they are not exported again (about 50 s each on 2 cores).
EXPORT_VARIANTS = [n for n in VARIANTS if not n.endswith("-in22k")]


@pytest.mark.parametrize("name", EXPORT_VARIANTS)
def test_every_variant_exports_in_both_modes(name):
    """Custom-op graph: one contract node per layer with the right attributes; portable: none, stock ops only.

    The portable graph is produced exactly as `export_onnx(portable=True)` does it (custom-op export, then
    every NA node expanded), from the same in-memory graph to keep CI time down.
    """
    cfg = variant_config(name)
    model = load_model(name).model
    proto = to_onnx(model, cfg, ExportOptions())
    onnx.checker.check_model(proto, full_check=True)
    nodes = [n for n in proto.graph.node if n.op_type == OP_TYPE]
    assert len(nodes) == sum(cfg.depths) and all(n.domain == DOMAIN for n in nodes)
    inits = {i.name: i for i in proto.graph.initializer}
    expected = [(lvl, j) for lvl in range(cfg.num_levels) for j in range(cfg.depths[lvl])]
    for node, (lvl, j) in zip(nodes, expected):
        a = _attrs(node)
        heads, d = cfg.num_heads[lvl], cfg.dilation(lvl, j)
        assert a["num_heads"] == heads
        k = cfg.kernel_size
        assert a["kernel_size"] == [k, k] and a["dilation"] == [d, d]
        assert a["scale"] == pytest.approx((cfg.level_dim(lvl) // heads) ** -0.5)
        assert a["plugin_version"] == b"1" and a["plugin_namespace"] == b""
        rpb = inits[node.input[1]]
        assert list(rpb.dims) == [heads, 2 * k - 1, 2 * k - 1]
    assert any(o.domain == DOMAIN for o in proto.opset_import)

    portable = expand_na_nodes(proto)
    onnx.checker.check_model(portable, full_check=True)
    assert count_na_nodes(portable) == 0
    assert all(n.domain in ("", "ai.onnx") for n in portable.graph.node)
    assert not any(o.domain == DOMAIN for o in portable.opset_import)


@pytest.mark.parametrize("fmt", ["hf", "original"])
@pytest.mark.parametrize("name", MICRO)
def test_portable_ort_matches_hf_goldens(tmp_path, name, fmt):
    io, meta = micro_io(name), micro_meta(name)
    loaded = _load_micro(name, fmt)
    for i, shape in enumerate(meta["inputs"]):
        res = tuple(shape[1:])
        out = tmp_path / f"{name}_{i}.onnx"
        r = export_onnx(loaded, out, ExportOptions(resolution=res, portable=True))
        assert r.na_nodes == 0 and out.is_file()
        logits = run_session(make_session(out), io[f"input_{i}"].numpy())["logits"]
        assert np.abs(logits - io[f"logits_{i}"].numpy()).max() <= 1e-4


def test_one_file_runs_at_batch_1_and_3(tmp_path):
    loaded = _load_micro("dinat_micro", "hf")
    out = tmp_path / "dyn.onnx"
    export_onnx(loaded, out, ExportOptions(portable=True))
    proto = onnx.load(str(out))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = make_session(out)
    for b in (1, 3):
        x = torch.randn(b, 3, 224, 224)
        with torch.no_grad():
            ref = loaded.model(x).numpy()
        assert np.abs(run_session(session, x.numpy())["logits"] - ref).max() <= 1e-4


def test_dynamic_resolution_runs_at_two_sizes(tmp_path):
    loaded = _load_micro("dinat_micro", "original")
    out = tmp_path / "dynres.onnx"
    export_onnx(loaded, out, ExportOptions(dynamic_resolution=True, portable=True))
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
    session = make_session(out)
    for hw in ((224, 224), (256, 288)):
        x = torch.randn(1, 3, *hw)
        with torch.no_grad():
            ref = loaded.model(x).numpy()
        assert np.abs(run_session(session, x.numpy())["logits"] - ref).max() <= 1e-4


def test_fp16_export_runs_on_ort_within_fp16_tolerance(tmp_path):
    loaded = _load_micro("nat_micro", "hf")
    out = tmp_path / "fp16.onnx"
    export_onnx(loaded, out, ExportOptions(dtype="fp16", portable=True))
    proto = onnx.load(str(out))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    ln = [n for n in proto.graph.node if n.op_type == "LayerNormalization"]
    assert ln and all(_attrs(n).get("stash_type", 1) == 1 for n in ln)  # statistics in fp32
    x = micro_io("nat_micro")["input_0"]
    got = run_session(make_session(out), x.numpy())["logits"].astype(np.float32)
    with torch.no_grad():
        ref = loaded.model(x).numpy()
    m = compare(ref, got, logits=True)
    assert passes(m, TOLERANCES["fp16"]), m
    assert not passes(m, TOLERANCES["fp32"]) or m["max_abs"] < 1e-4  # the fp16 graph really computes in fp16


def test_classifier_metadata(tmp_path):
    loaded = _load_micro("nat_micro", "hf")
    out = tmp_path / "m.onnx"
    export_onnx(loaded, out, ExportOptions(batch=2))
    proto = onnx.load(str(out))
    assert [o.name for o in proto.graph.output] == ["logits"]
    meta = ModelDescription.read(proto).to_json()
    assert meta["variant"] == str(FIXTURES / "nat_micro" / "hf")
    assert meta["contract_version"] == "1" and meta["na_mode"] == "plugin" and meta["dtype"] == "fp32"
    assert meta["config"]["depths"] == [1, 1, 2, 1] and meta["config"]["out_features"] is None
    assert meta["preprocessing"]["mean"] == [0.485, 0.456, 0.406] and meta["preprocessing"]["center_crop"] == [224, 224]
    assert len(meta["labels"]) == 10 and "feature_maps" not in meta
    assert meta["source"] == {"from_pretrained": str(FIXTURES / "nat_micro" / "hf")}


def test_cli_backbone_from_a_classifier_and_the_old_features_flag(tmp_path, capsys):
    """``--backbone --out-features`` on a classifier checkpoint; ``--features`` is its deprecated spelling."""
    src = str(FIXTURES / "nat_micro" / "hf")
    out = tmp_path / "bb.onnx"
    args = ["onnx", str(out), "--from-pretrained", src, "--resolution", "64", "--portable", "--samples", "1"]
    assert main([*args, "--backbone", "--out-features", "stage1,stage3"]) == 0
    captured = capsys.readouterr()
    assert "validation passed" in captured.out and "new LayerNorms" in captured.err
    proto = onnx.load(str(out))
    assert [o.name for o in proto.graph.output] == ["stage1", "stage3"]
    meta = ModelDescription.read(proto)
    assert meta.feature_maps == [
        {"name": "stage1", "channels": 16, "stride": 4},
        {"name": "stage3", "channels": 64, "stride": 16},
    ]
    assert meta.source["out_features"] == ["stage1", "stage3"]
    # infer prints classes: a backbone file is one line saying what to use instead
    image = tmp_path / "x.png"
    Image.new("RGB", (80, 60), (120, 30, 60)).save(image)
    assert main(["infer", str(out), str(image)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a backbone (outputs stage1, stage3" in err
    old = tmp_path / "old.onnx"
    assert main(["onnx", str(old), "--from-pretrained", src, "--resolution", "64", "--portable", "--features"]) == 0
    err = capsys.readouterr().err
    assert "--features is deprecated" in err and "use --backbone" in err
    assert [o.name for o in onnx.load(str(old)).graph.output] == ["stage1", "stage2", "stage3", "stage4"]


def test_cli_export_validates_and_writes_report(tmp_path, capsys):
    out, report = tmp_path / "m.onnx", tmp_path / "r.json"
    cfg = str(micro_config_path("dinat_micro"))
    rc = main(
        [
            "onnx",
            str(out),
            "--model",
            cfg,
            "--weights",
            str(FIXTURES / "dinat_micro" / "original.pth"),
            "--json",
            str(report),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "7 NeighborhoodAttention2D nodes" in text.replace("\n", " ") or "8 NeighborhoodAttention2D" in text.replace(
        "\n", " "
    )
    r = json.loads(report.read_text())
    assert r["ok"] and r["checks"][0]["metrics"]["max_abs"] <= 1e-4
    # the standalone validate rebuilds the reference from the metadata (model + weights recorded at export)
    assert main(["validate", str(out), "--samples", "1"]) == 0


def test_validate_detects_a_wrong_model(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert (
        main(["onnx", str(out), "--from-pretrained", str(FIXTURES / "nat_micro" / "hf"), "--portable", "--no-validate"])
        == 0
    )
    proto = onnx.load(str(out))
    weights = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) >= 2]
    for init in weights:  # a slightly different model: every weight matrix scaled by 1.05
        init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * np.float32(1.05), init.name))
    onnx.save(proto, str(out))
    capsys.readouterr()
    assert main(["validate", str(out), "--samples", "1"]) == 1
    assert "validation FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,match",
    [
        (["--model", "nat-huge"], "unknown model 'nat-huge'"),
        (["--model", "nat-tiny", "--weights", "/nonexistent/w.pth"], "weights file /nonexistent/w.pth not found"),
        (["--resolution", "16"], "too small"),
        (["--dynamic-resolution", "--resolution", "5000"], "take sides up to 4096"),
        (["--out-features", "stage9"], "unknown stages ['stage9']; use stage1"),
        (["--out-features", ","], "names no stage"),
        (["--resolution", "abc"], "is not N or HxW"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, match):
    out = tmp_path / "x.onnx"
    rc = main(["onnx", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and match in err and err.startswith("nat-export onnx: error:")
    assert list(tmp_path.iterdir()) == []


def test_cli_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "x.onnx"
    out.write_text("keep me")
    assert main(["onnx", str(out)]) != 0
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me"


def test_cli_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("onnx", "trt", "validate", "bench", "infer", "models"):
        assert cmd in text


def test_cli_models_lists_variants(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(VARIANTS)
    tiny = next(r for r in rows if r["name"] == "nat-tiny")
    assert 27e6 < tiny["params"] < 29e6 and tiny["resolution"] == 224 and tiny["hub_id"] == "shi-labs/nat-tiny-in1k-224"


def test_validate_on_images(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "m.onnx"
    assert (
        main(["onnx", str(out), "--from-pretrained", str(FIXTURES / "nat_micro" / "hf"), "--portable", "--no-validate"])
        == 0
    )
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate(((300, 260), (180, 400))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(images / f"{i}.png")
    report = tmp_path / "r.json"
    assert main(["validate", str(out), "--images", str(images), "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["ok"] and r["samples"] == 2 and r["checks"][0]["shape"] == [2, 10]
    for f in images.iterdir():
        f.unlink()
    capsys.readouterr()
    assert main(["validate", str(out), "--images", str(images)]) != 0
    assert "no images" in capsys.readouterr().err


def test_bf16_export_is_written_and_validation_needs_an_engine(tmp_path, capsys):
    out = tmp_path / "bf16.onnx"
    assert main(["onnx", str(out), "--from-pretrained", str(FIXTURES / "nat_micro" / "hf"), "--dtype", "bf16"]) == 0
    assert "cannot run bf16 graphs" in capsys.readouterr().out.replace("\n", " ")
    proto = onnx.load(str(out))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.BFLOAT16
    assert count_na_nodes(proto) == 5
    assert main(["validate", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pass --engine ENGINE" in err


def test_opset_newer_than_onnx_knows_is_refused():
    from nat_export.export import check_options
    from nat_export.ops import NAShapeError

    with pytest.raises(NAShapeError, match="--opset 99 is newer"):
        check_options(variant_config("nat-mini"), ExportOptions(opset=99))
