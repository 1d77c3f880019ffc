"""`nat-export triton-repo`: every generated config.pbtxt parses as Triton's ModelConfig (tritonclient's schema)
and says, field by field, what the source file says; the refusals are one line and leave nothing behind."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from nat_export.onnx.metadata import ModelDescription

from ..conftest import na_graph
from .conftest import make_engine

#: ONNX element type -> Triton data type, stated here independently of the code under test.
ONNX_TO_TRITON = {TensorProto.FLOAT: "TYPE_FP32", TensorProto.FLOAT16: "TYPE_FP16", TensorProto.INT64: "TYPE_INT64"}


def onnx_io(path):
    """(name, Triton type, dims with -1 where dynamic) of the graph's inputs and outputs, read with onnx."""
    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}

    def one(vi):
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
        return vi.name, ONNX_TO_TRITON[vi.type.tensor_type.elem_type], dims

    return [one(v) for v in m.graph.input if v.name not in inits], [one(v) for v in m.graph.output], m


def config_io(cfg, pb2, tensors):
    return [(t.name, pb2.DataType.Name(t.data_type), list(t.dims)) for t in tensors]


def params(cfg) -> dict:
    return {k: v.string_value for k, v in cfg.parameters.items()}


def assert_clean(folder):
    """No temporary or moved-aside folder is left in the repository."""
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def assert_one_line_error(code, out, err, *needles):
    assert code not in (0, 130), (code, out, err)
    assert err.count("\n") == 1 and err.startswith("nat-export triton-repo: error: ") and "Traceback" not in err, err
    assert "; " in err, err  # problem; fix
    for n in needles:
        assert n in err, (n, err)


def test_portable_onnx_field_by_field(run_cli, micro_onnx, tmp_path, parse_config, model_config_pb2):
    out = tmp_path / "repo"
    code, stdout, err = run_cli("triton-repo", out, "--onnx", micro_onnx)
    assert code == 0, err
    entry = out / "nat_micro"
    cfg = parse_config(entry / "config.pbtxt")
    ins, outs, model = onnx_io(micro_onnx)
    assert cfg.name == "nat_micro" and cfg.platform == "onnxruntime_onnx" and cfg.backend == "onnxruntime"
    assert cfg.default_model_filename == "model.onnx"
    assert cfg.max_batch_size == 8  # a dynamic-batch file: the default
    assert all(d[0] == -1 for _, _, d in ins + outs)  # the file's batch axis is dynamic: Triton owns it
    assert config_io(cfg, model_config_pb2, cfg.input) == [(n, t, d[1:]) for n, t, d in ins]
    assert config_io(cfg, model_config_pb2, cfg.output) == [(n, t, d[1:]) for n, t, d in outs]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 100
    assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in cfg.instance_group] == [
        (1, "KIND_CPU")
    ]
    assert not cfg.HasField("model_operations")  # a portable graph needs no op library
    # labels: the recorded list, one per line, on the classification output
    desc = ModelDescription.read(model)
    assert cfg.output[0].label_filename == "labels.txt"
    assert (entry / "labels.txt").read_text().splitlines() == desc.labels
    # the recorded description comes back from the parameters, field by field (labels are the file)
    p = params(cfg)
    back = ModelDescription.from_props(p)
    assert back.to_json() == {k: v for k, v in desc.to_json().items() if k != "labels"}
    assert json.loads(p["nat_export.preprocessing"]) == desc.preprocessing.to_dict()
    assert p["nat_export.source_file"] == "nat_micro.onnx" and p["nat_export.model_kind"] == "portable ONNX graph"
    assert (entry / "1" / "model.onnx").read_bytes() == micro_onnx.read_bytes()
    readme = (out / "README.md").read_text()
    assert f"tritonserver --model-repository={out.absolute()}\n" in readme and "LD_PRELOAD" not in readme
    assert "curl -s localhost:8000/v2/models/nat_micro/config" in readme
    assert f"tritonserver --model-repository={out.absolute()}" in stdout
    assert_clean(out)


def test_round_trip_of_names_dims_and_types(run_cli, tmp_path, parse_config, model_config_pb2):
    """Two inputs and outputs, fp16 and int64, dynamic H/W: names, dims and types come back as the graph has them."""
    n = "N"
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT16, [n, 3, "H", "W"])
    k = helper.make_tensor_value_info("mask", TensorProto.INT64, [n, 5])
    y = helper.make_tensor_value_info("features_0", TensorProto.FLOAT16, [n, 3, "H", "W"])
    z = helper.make_tensor_value_info("ids", TensorProto.INT64, [n, 5])
    g = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["features_0"]), helper.make_node("Identity", ["mask"], ["ids"])],
        "g",
        [x, k],
        [y, z],
    )
    src = tmp_path / "two.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(src))
    out = tmp_path / "repo"
    code, _, err = run_cli("triton-repo", out, "--onnx", src, "--max-batch", "3", "--name", "two.v2")
    assert code == 0, err
    cfg = parse_config(out / "two.v2" / "config.pbtxt")
    ins, outs, _ = onnx_io(src)
    assert config_io(cfg, model_config_pb2, cfg.input) == [
        ("image", "TYPE_FP16", [3, -1, -1]),
        ("mask", "TYPE_INT64", [5]),
    ]
    assert config_io(cfg, model_config_pb2, cfg.output) == [(nm, t, d[1:]) for nm, t, d in outs]
    assert cfg.max_batch_size == 3 and list(cfg.dynamic_batching.preferred_batch_size) == [3]
    assert not any(o.label_filename for o in cfg.output) and not (out / "two.v2" / "labels.txt").exists()


def test_custom_op_graph_names_its_op_library(run_cli, tmp_path, parse_config, no_plugins):
    src = tmp_path / "na.onnx"
    na_graph(src)
    lib = tmp_path / "libnat_export_ort.so"
    lib.write_bytes(b"\x7fELF stand-in for the ONNX Runtime op library")
    out = tmp_path / "repo"
    code, out_text, err = run_cli(
        "triton-repo", out, "--onnx", src, "--ort-op-library", lib, "--instances", "3", "--max-queue-delay-us", "500"
    )
    assert code == 0, err
    cfg = parse_config(out / "na" / "config.pbtxt")
    copy = out / "na" / "1" / "libnat_export_ort.so"
    assert list(cfg.model_operations.op_library_filename) == [str(copy.absolute())]
    assert copy.read_bytes() == lib.read_bytes() and copy.stat().st_mode & 0o111
    assert cfg.instance_group[0].count == 3 and cfg.dynamic_batching.max_queue_delay_microseconds == 500
    assert params(cfg)["nat_export.model_kind"] == "custom-op ONNX graph"
    assert "libnat_export_ort.so copied" in out_text
    # where the server sees the repository (a container's mount)
    code, _, err = run_cli("triton-repo", out, "--onnx", src, "--ort-op-library", lib, "--server-path", "/models",
                           "--force")  # fmt: skip
    assert code == 0, err
    cfg = parse_config(out / "na" / "config.pbtxt")
    assert list(cfg.model_operations.op_library_filename) == ["/models/na/1/libnat_export_ort.so"]
    assert "tritonserver --model-repository=/models\n" in (out / "README.md").read_text()
    assert_clean(out)


def test_custom_op_graph_without_its_library_is_refused(run_cli, tmp_path, no_plugins):
    src = tmp_path / "na.onnx"
    na_graph(src)
    out = tmp_path / "repo"
    code, stdout, err = run_cli("triton-repo", out, "--onnx", src)
    assert_one_line_error(code, stdout, err, "custom-op graph", "--ort-op-library", "--portable")
    assert not (out / "na").exists()


def test_fixed_batch_file_is_not_batched(run_cli, tmp_path, parse_config):
    src = tmp_path / "b2.onnx"
    na_graph(src, batch=2)
    lib = tmp_path / "libnat_export_ort.so"
    lib.write_bytes(b"x")
    out = tmp_path / "repo"
    code, _, err = run_cli("triton-repo", out, "--onnx", src, "--ort-op-library", lib)
    assert code == 0, err
    cfg = parse_config(out / "b2" / "config.pbtxt")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [2, 8, 8, 24] and list(cfg.output[0].dims) == [2, 8, 8, 8]
    code, stdout, err = run_cli("triton-repo", tmp_path / "r2", "--onnx", src, "--ort-op-library", lib,
                                "--max-batch", "4")  # fmt: skip
    assert_one_line_error(code, stdout, err, "fixed batch of 2", "--max-batch")
    assert not (tmp_path / "r2").exists()


def test_engine_from_its_sidecar(run_cli, tmp_path, parse_config, model_config_pb2):
    engine = make_engine(tmp_path / "e")
    plugin = tmp_path / "libs" / "libnat_export_trt_autoreg.so"
    plugin.parent.mkdir()
    plugin.write_bytes(b"\x7fELF stand-in for the self-registering plugin")
    out = tmp_path / "repo"
    code, stdout, err = run_cli("triton-repo", out, "--engine", engine, "--plugin", plugin, "--instances", "2")
    assert code == 0, err
    side = json.loads((tmp_path / "e" / "m.engine.json").read_text())
    entry = out / "m"
    cfg = parse_config(entry / "config.pbtxt")
    assert cfg.platform == "tensorrt_plan" and cfg.backend == "tensorrt" and cfg.default_model_filename == "model.plan"
    prof = side["profiles"][0]["pixel_values"]
    assert cfg.max_batch_size == prof["max"][0] == 32
    assert list(cfg.dynamic_batching.preferred_batch_size) == sorted({prof["opt"][0], prof["max"][0]}) == [8, 32]
    for tensors, recorded in ((cfg.input, side["inputs"]), (cfg.output, side["outputs"])):
        assert [(t.name, list(t.dims)) for t in tensors] == [(r["name"], r["shape"][1:]) for r in recorded]
        assert [model_config_pb2.DataType.Name(t.data_type) for t in tensors] == ["TYPE_FP32"] * len(recorded)
    assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in cfg.instance_group] == [
        (2, "KIND_GPU")
    ]
    assert not cfg.HasField("model_operations")
    assert cfg.output[0].label_filename == "labels.txt" and (entry / "labels.txt").read_text() == "cat\ndog\n"
    p = params(cfg)
    assert p["nat_export.precision"] == "fp16" and p["nat_export.tensorrt_version"] == "11.4.0.106"
    assert ModelDescription.from_props(p).preprocessing == ModelDescription.from_json(side).preprocessing
    assert (entry / "1" / "model.plan").read_bytes() == engine.read_bytes()
    copy = entry / "1" / "libnat_export_trt_autoreg.so"
    assert copy.read_bytes() == plugin.read_bytes()
    readme = (out / "README.md").read_text()
    assert f"LD_PRELOAD={copy.absolute()} tritonserver --model-repository={out.absolute()}\n" in readme
    assert (
        f'tritonserver --model-repository={out.absolute()} --backend-config=tensorrt,plugins="{copy.absolute()}"'
        in readme
    )
    assert "--gpus all" in readme
    assert_clean(out)


def test_fp16_engine_io_and_fixed_batch_engine(run_cli, tmp_path, parse_config, model_config_pb2):
    engine = make_engine(tmp_path / "e", dtype="HALF", na_mode="portable", labels=None)
    code, _, err = run_cli("triton-repo", tmp_path / "repo", "--engine", engine, "--max-batch", "16")
    assert code == 0, err
    cfg = parse_config(tmp_path / "repo" / "m" / "config.pbtxt")
    assert model_config_pb2.DataType.Name(cfg.input[0].data_type) == "TYPE_FP16" and cfg.max_batch_size == 16
    assert not (tmp_path / "repo" / "m" / "1" / "libnat_export_trt_autoreg.so").exists()  # no NA plugin layers
    assert "LD_PRELOAD" not in (tmp_path / "repo" / "README.md").read_text()
    fixed = make_engine(tmp_path / "f", profile=((4, 3, 64, 64),) * 3, na_mode="portable")
    code, _, err = run_cli("triton-repo", tmp_path / "repo", "--engine", fixed, "--name", "fixed")
    assert code == 0, err
    cfg = parse_config(tmp_path / "repo" / "fixed" / "config.pbtxt")
    assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [4, 3, 64, 64]
    readme = (tmp_path / "repo" / "README.md").read_text()
    assert "`m`" in readme and "`fixed`" in readme  # the README lists every model of the repository


@pytest.mark.parametrize(
    "case, needles",
    [
        ("above_profile", ("--max-batch 64 is above the engine profile's max batch 32",)),
        ("no_sidecar", ("has no sidecar", "nat-export trt")),
        ("profile_min", ("starts at batch 2", "--min 1")),
        ("plain_plugin", ("libnat_export_trt_autoreg.so", "dlopen")),
        ("plugin_not_needed", ("--plugin does not apply",)),
        ("op_library_for_engine", ("--ort-op-library does not apply",)),
        ("onnx_as_engine", ("is an ONNX file",)),
    ],
)
def test_engine_refusals(run_cli, tmp_path, case, needles):
    plugin = tmp_path / "libnat_export_trt_autoreg.so"
    plugin.write_bytes(b"x")
    args = ["--plugin", plugin]
    if case == "above_profile":
        engine, args = make_engine(tmp_path / "e"), args + ["--max-batch", "64"]
    elif case == "no_sidecar":
        engine = make_engine(tmp_path / "e", sidecar=False)
    elif case == "profile_min":
        engine = make_engine(tmp_path / "e", profile=((2, 3, 64, 64), (8, 3, 64, 64), (32, 3, 64, 64)))
    elif case == "plain_plugin":
        engine = make_engine(tmp_path / "e")
        plain = tmp_path / "plain" / "libnat_export_trt.so"
        plain.parent.mkdir()
        plain.write_bytes(b"x")
        args = ["--plugin", plain]
    elif case == "plugin_not_needed":
        engine = make_engine(tmp_path / "e", na_mode="portable")
    elif case == "op_library_for_engine":
        engine, args = make_engine(tmp_path / "e"), ["--ort-op-library", plugin]
    else:
        engine = tmp_path / "m.onnx"
        na_graph(engine)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, stdout, err = run_cli("triton-repo", tmp_path / "repo", "--engine", engine, *args)
    assert_one_line_error(code, stdout, err, *needles)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_existing_entry_and_foreign_readme(run_cli, micro_onnx, tmp_path, parse_config):
    out = tmp_path / "repo"
    assert run_cli("triton-repo", out, "--onnx", micro_onnx)[0] == 0
    config = out / "nat_micro" / "config.pbtxt"
    before = config.read_text()
    code, stdout, err = run_cli("triton-repo", out, "--onnx", micro_onnx, "--instances", "4")
    assert_one_line_error(code, stdout, err, "exists", "--force")
    assert config.read_text() == before
    code, _, err = run_cli("triton-repo", out, "--onnx", micro_onnx, "--instances", "4", "--force")
    assert code == 0, err
    assert parse_config(config).instance_group[0].count == 4
    assert_clean(out)
    other = tmp_path / "other"
    other.mkdir()
    (other / "README.md").write_text("my notes\n")
    code, stdout, err = run_cli("triton-repo", other, "--onnx", micro_onnx)
    assert_one_line_error(code, stdout, err, "README.md exists", "--force")
    assert (other / "README.md").read_text() == "my notes\n" and not (other / "nat_micro").exists()
    code, stdout, err = run_cli("triton-repo", out, "--onnx", micro_onnx, "--name", "../x")
    assert_one_line_error(code, stdout, err, "--name '../x'")
    inside = out / "nat_micro" / "1" / "model.onnx"  # serving the entry's own copy again, in place
    code, stdout, err = run_cli("triton-repo", out, "--onnx", inside, "--name", "nat_micro", "--force")
    assert_one_line_error(code, stdout, err, "lies inside", "--name")
    assert inside.read_bytes() == micro_onnx.read_bytes()


def test_a_failed_write_leaves_the_old_entry(micro_onnx, tmp_path, monkeypatch):
    """The entry is built aside and renamed into place: a failure half way leaves the old one and no debris."""
    import shutil

    from nat_export.serving import triton_repo

    out = tmp_path / "repo"
    m = triton_repo.describe_model(micro_onnx)
    triton_repo.write_repository(m, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken_copy(src, dst, *a, **k):
        shutil.copyfileobj(open(src, "rb"), open(dst, "wb"), length=1000)
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(triton_repo.shutil, "copyfile", broken_copy)
    with pytest.raises(OSError, match="No space"):
        triton_repo.write_repository(m, out, force=True, instances=2)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert_clean(out)


def test_every_generated_config_parses(tmp_path, micro_onnx, parse_config):
    """The text renderer against the schema for each kind of model (strings with quotes and backslashes too)."""
    from nat_export.serving import triton_repo

    m = triton_repo.describe_model(micro_onnx)
    m.description.variant = 'a "quoted" \\ variant\nwith a newline'
    for lib in (None, "/r/x/1/lib.so"):
        cfg = parse_config_text(parse_config, tmp_path, triton_repo.render_config(m, "x", library_path=lib))
        assert cfg.parameters["nat_export.variant"].string_value == m.description.variant
    engine = triton_repo.describe_model(make_engine(tmp_path / "e", na_mode="portable"))
    cfg = parse_config_text(parse_config, tmp_path, triton_repo.render_config(engine, "e", instances=5))
    assert cfg.instance_group[0].count == 5 and cfg.max_batch_size == 32


def parse_config_text(parse_config, tmp_path, text):
    p = tmp_path / "c.pbtxt"
    p.write_text(text)
    return parse_config(p)
