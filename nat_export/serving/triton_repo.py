"""A Triton Inference Server model repository for an exported ONNX file or a TensorRT engine.

:func:`describe_model` reads what Triton must be told (input / output names, data types, dims, the batch range,
the op library or plugin, labels, preprocessing) from the file itself: ``read_onnx`` for ONNX files, the
engine's sidecar (``ENGINE.json``) for engines (TensorRT is not needed to write the repository).
:func:`write_repository` lays it out::

    OUT_DIR/
      README.md                 how to start tritonserver on it (rewritten to list every nat-export model there)
      <name>/
        config.pbtxt            the model configuration (text protobuf, Triton's ModelConfig)
        labels.txt              label_filename of the classification output, when the model records labels
        1/
          model.onnx | model.plan
          libnat_export_ort.so            custom-op ONNX graphs: named by model_operations { op_library_filename }
          libnat_export_trt_autoreg.so    engines with NA plugin layers: LD_PRELOAD or --backend-config plugins=

Paths written into the configuration and the README are absolute, as the server sees the repository
(``server_path``, default: where it is written): Triton's ONNX Runtime backend hands ``op_library_filename`` to
``RegisterCustomOpsLibrary`` (dlopen) as it is, and the TensorRT backend dlopens each ``plugins=`` path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..onnx.metadata import ModelDescription
from . import RepositoryError

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_QUEUE_DELAY_US",
    "ServedModel",
    "TensorSpec",
    "describe_model",
    "render_config",
    "write_repository",
]

#: max_batch_size of a dynamic-batch ONNX file when --max-batch is not given (an engine: its profile's max).
DEFAULT_MAX_BATCH = 8
#: dynamic_batching.max_queue_delay_microseconds when not given.
DEFAULT_QUEUE_DELAY_US = 100
MARKER = "# nat-export"
#: numpy dtype names (OnnxFacts) and TensorRT DataType names (the sidecar) -> Triton data types.
TRITON_TYPES = {
    "float32": "FP32",
    "float16": "FP16",
    "bfloat16": "BF16",
    "float64": "FP64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "bool": "BOOL",
    "FLOAT": "FP32",
    "HALF": "FP16",
    "BF16": "BF16",
    "INT8": "INT8",
    "INT32": "INT32",
    "INT64": "INT64",
    "UINT8": "UINT8",
    "BOOL": "BOOL",
}
#: Triton data type -> numpy dtype name (what PyTriton's tensors and the clients use).
NUMPY_TYPES = {
    "FP32": "float32",
    "FP16": "float16",
    "FP64": "float64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "BOOL": "bool",
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass
class TensorSpec:
    """One input or output as Triton sees it.

    Attributes:
        name: the tensor's name in the model file.
        data_type: Triton's type without ``TYPE_`` (``FP32``, ``FP16``, ``BF16``, ``INT64``, ...).
        dims: per-request dims, without the batch axis when the model batches (``max_batch > 0``); -1 where
            the file leaves an axis dynamic.
    """

    name: str
    data_type: str
    dims: list[int]

    @property
    def numpy_dtype(self) -> str:
        """The numpy dtype name of :attr:`data_type` (``float32``, ...).

        Raises:
            RepositoryError: a type numpy cannot hold (bf16).
        """
        try:
            return NUMPY_TYPES[self.data_type]
        except KeyError:
            raise RepositoryError(
                f"tensor {self.name} is {self.data_type}, which numpy (and so PyTriton) cannot hold; export the "
                "model in fp32 or fp16"
            ) from None


@dataclass
class ServedModel:
    """What Triton must know of a model file.

    Attributes:
        kind: ``onnx`` or ``engine``.
        path: the model file.
        inputs, outputs: :class:`TensorSpec` s, in the file's order.
        max_batch: Triton's ``max_batch_size``: the most requests' samples one execution takes; 0 when the file
            fixes the batch (no batching: dims then include the batch axis).
        fixed_batch: the file's own batch when it fixes one, else None.
        opt_batch: the batch the engine's profile was tuned for (engines), else None.
        profile_max: the engine profile's max batch (engines), else None.
        library: the ONNX Runtime op library (custom-op graphs) or the self-registering TensorRT plugin (engines
            with NA plugin layers), else None.
        description: the recorded :class:`~nat_export.onnx.metadata.ModelDescription`.
        sidecar: the engine's sidecar (engines), else None.
        na_nodes: contract NA nodes of an ONNX graph (0: portable).
    """

    kind: str
    path: Path
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    max_batch: int
    fixed_batch: int | None = None
    opt_batch: int | None = None
    profile_max: int | None = None
    library: Path | None = None
    description: ModelDescription = field(default_factory=ModelDescription)
    sidecar: dict | None = None
    na_nodes: int = 0

    @property
    def model_filename(self) -> str:
        return "model.onnx" if self.kind == "onnx" else "model.plan"

    @property
    def labels_output(self) -> str | None:
        """The output the labels belong to: the first whose last dim is the number of labels."""
        labels = self.description.labels
        if not labels:
            return None
        return next((o.name for o in self.outputs if o.dims and o.dims[-1] == len(labels)), None)

    def what(self) -> str:
        """One phrase: ``portable ONNX graph``, ``custom-op ONNX graph``, ``TensorRT engine (fp16)``."""
        if self.kind == "onnx":
            return "custom-op ONNX graph" if self.na_nodes else "portable ONNX graph"
        prec = (self.sidecar or {}).get("precision")
        return f"TensorRT engine ({prec})" if prec else "TensorRT engine"


def _triton_type(dtype: str, where: str) -> str:
    t = TRITON_TYPES.get(str(dtype))
    if t is None:
        raise RepositoryError(f"{where} has the type {dtype}, which Triton cannot carry; export the model in fp32")
    return t


def _onnx_dims(vi) -> list[int]:
    return [
        int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in vi.type.tensor_type.shape.dim
    ]


def describe_model(
    path: str | Path,
    *,
    max_batch: int | None = None,
    ort_op_library: str | Path | None = None,
    plugin: str | Path | None = None,
    triton_backend: bool = True,
) -> ServedModel:
    """Read a model file (``*.onnx``, or an engine with its sidecar) into a :class:`ServedModel`.

    Args:
        max_batch: Triton's ``max_batch_size`` (default: 8 for a dynamic-batch ONNX file, the profile's max for an
            engine); must be >= 1.
        ort_op_library: the ONNX Runtime NA op library (a file or a folder) for a custom-op graph; default: the one
            ``nat-export build-plugins`` built.
        plugin: the self-registering TensorRT plugin (``libnat_export_trt_autoreg.so``, or a folder holding it) for
            an engine with NA plugin layers; default: the one beside the plugin the sidecar names, else the built one.
        triton_backend: the engine is for Triton's TensorRT backend, which dlopens plugins (so the self-registering
            library); False for ``serve``, whose ``TrtEngine`` loads ``libnat_export_trt.so`` through TensorRT.

    Raises:
        FileNotFoundError: the file is missing.
        nat_export.onnx.files.OnnxFileError / MetadataError: an ONNX file that does not parse.
        nat_export.native.PluginNotFoundError: a custom-op graph without an op library, an engine needing a plugin
            that is not there.
        RepositoryError: ``max_batch`` above the engine profile's max or for a fixed-batch file, an engine without
            its sidecar, an engine profile that does not start at batch 1, a flag that does not apply, a tensor
            type Triton cannot carry.
    """
    from ..runtime.runners import is_onnx

    path = Path(path)
    if max_batch is not None and max_batch < 1:
        raise RepositoryError(f"--max-batch must be >= 1, got {max_batch}; e.g. --max-batch 8")
    if is_onnx(path):
        if plugin is not None:
            raise RepositoryError(
                f"--plugin (the TensorRT plugin) does not apply to an ONNX file ({path.name}); leave it out (a "
                "custom-op graph takes --ort-op-library)"
            )
        return _describe_onnx(path, max_batch, ort_op_library)
    if ort_op_library is not None:
        raise RepositoryError(
            f"--ort-op-library does not apply to an engine ({path.name}); leave it out (an engine's NA layers use "
            "the TensorRT plugin: --plugin)"
        )
    return _describe_engine(path, max_batch, plugin, triton_backend)


def _describe_onnx(path: Path, max_batch: int | None, ort_op_library) -> ServedModel:
    from ..native import PluginNotFoundError, find_library
    from ..onnx.files import read_onnx

    model, facts = read_onnx(path)
    for name, t in facts.input_types.items():
        if t == "bfloat16":
            raise RepositoryError(
                f"{path.name} takes bfloat16 ({name}), which ONNX Runtime cannot run on the CPU; build a TensorRT "
                "engine from it (nat-export trt) and serve that, or export in fp32 / fp16"
            )
    inits = {i.name for i in model.graph.initializer}
    in_dims = {vi.name: _onnx_dims(vi) for vi in model.graph.input if vi.name not in inits}
    out_dims = {vi.name: _onnx_dims(vi) for vi in model.graph.output}
    all_dims = list(in_dims.values()) + list(out_dims.values())
    batching = all(d and d[0] == -1 for d in all_dims)
    fixed = facts.fixed_batch
    if batching:
        mb = max_batch or DEFAULT_MAX_BATCH
        cut = 1
    else:
        if max_batch is not None:
            what = f"a fixed batch of {fixed}" if fixed else "no batch axis Triton can batch along"
            raise RepositoryError(
                f"{path.name} has {what}, so Triton cannot batch it; leave --max-batch out, or re-export it with a "
                "dynamic batch (nat-export onnx without --batch)"
            )
        mb, cut = 0, 0
    inputs = [TensorSpec(n, _triton_type(facts.input_types[n], f"input {n}"), in_dims[n][cut:]) for n in facts.inputs]
    outputs = [TensorSpec(n, _triton_type(facts.output_types[n], f"output {n}"), out_dims[n][cut:]) for n in out_dims]
    lib = None
    if facts.na_nodes:
        try:
            lib = find_library("ort", ort_op_library)
        except PluginNotFoundError as e:
            problem = str(e).split(";")[0]
            raise PluginNotFoundError(
                f"{path.name} is a custom-op graph ({facts.na_nodes} NeighborhoodAttention2D nodes) and Triton's "
                f"ONNX Runtime backend needs the NA op library for it: {problem}; run `nat-export build-plugins` "
                "or pass --ort-op-library LIB (or export a portable graph: nat-export onnx --portable)"
            ) from None
    elif ort_op_library is not None:
        raise RepositoryError(
            f"--ort-op-library does not apply: {path.name} is a portable graph (no NA nodes) and runs in stock "
            "ONNX Runtime; leave it out"
        )
    return ServedModel(
        kind="onnx",
        path=path,
        inputs=inputs,
        outputs=outputs,
        max_batch=mb,
        fixed_batch=fixed,
        library=lib,
        description=facts.description,
        na_nodes=facts.na_nodes,
    )


_REBUILD = "rebuild it with `nat-export trt MODEL.onnx -o ENGINE --force` (it writes the sidecar beside the engine)"


def _describe_engine(path: Path, max_batch: int | None, plugin, triton_backend: bool = True) -> ServedModel:
    from ..tensorrt.sidecar import engine_needs_plugin, read_sidecar, sidecar_description, sidecar_path

    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass an engine built by `nat-export trt` or an .onnx file")
    side = read_sidecar(path)
    if side is None:
        raise RepositoryError(
            f"{path} has no sidecar {sidecar_path(path).name}: the engine file alone does not say its inputs, outputs "
            f"and batch profile; {_REBUILD}"
        )
    where = f"sidecar {sidecar_path(path).name}"
    ios = {}
    for key in ("inputs", "outputs"):
        items = side.get(key)
        if not isinstance(items, list) or not items:
            raise RepositoryError(f"{where} lists no {key}; {_REBUILD}")
        for t in items:
            if not (
                isinstance(t, dict)
                and isinstance(t.get("name"), str)
                and isinstance(t.get("shape"), list)
                and all(isinstance(d, int) and not isinstance(d, bool) for d in t["shape"])
            ):
                raise RepositoryError(f"{where}: an entry of {key} is not {{name, dtype, shape}}; {_REBUILD}")
        ios[key] = items
    profiles = side.get("profiles") or []
    first = ios["inputs"][0]
    batching = bool(first["shape"]) and first["shape"][0] == -1
    lo = opt = hi = None
    if batching:
        prof = profiles[0] if profiles and isinstance(profiles[0], dict) else {}
        ranges = prof.get(first["name"])
        try:
            lo, opt, hi = (int(ranges[k][0]) for k in ("min", "opt", "max"))
        except (TypeError, KeyError, IndexError, ValueError):
            raise RepositoryError(f"{where} records no batch range for {first['name']}; {_REBUILD}") from None
        if lo > 1:
            raise RepositoryError(
                f"the engine's profile starts at batch {lo}, but Triton's batcher sends any batch from 1 up; rebuild "
                f"it with --min 1 (e.g. nat-export trt MODEL.onnx --min 1 --opt {opt} --max {hi})"
            )
        if max_batch is not None and max_batch > hi:
            raise RepositoryError(
                f"--max-batch {max_batch} is above the engine profile's max batch {hi}; use --max-batch {hi} or "
                f"less, or rebuild the engine with --max {max_batch}"
            )
        mb, cut = (max_batch or hi), 1
    else:
        if max_batch is not None:
            raise RepositoryError(
                f"{path.name} has a fixed batch of {first['shape'][0] if first['shape'] else 'none'}, so Triton "
                "cannot batch it; leave --max-batch out, or rebuild it with a batch range (--min 1 --opt N --max M)"
            )
        mb, cut = 0, 0
    for key in ("inputs", "outputs"):
        for t in ios[key]:
            if cut and (not t["shape"] or t["shape"][0] != -1):
                raise RepositoryError(
                    f"{where}: {t['name']} has no dynamic batch axis while {first['name']} has; {_REBUILD}"
                )
    inputs = [TensorSpec(t["name"], _triton_type(t.get("dtype"), f"input {t['name']}"), t["shape"][cut:]) for t in ios["inputs"]]  # fmt: skip
    outputs = [TensorSpec(t["name"], _triton_type(t.get("dtype"), f"output {t['name']}"), t["shape"][cut:]) for t in ios["outputs"]]  # fmt: skip
    lib = None
    needed = engine_needs_plugin(side)
    if needed:
        if triton_backend:
            lib = _autoreg_plugin(plugin, side)
        else:
            from ..tensorrt.plugins import resolve_plugin

            lib = resolve_plugin(plugin, True)
    elif plugin is not None:
        raise RepositoryError(
            f"--plugin does not apply: {path.name} has no NA plugin layers (its sidecar names no plugin); leave it out"
        )
    return ServedModel(
        kind="engine",
        path=path,
        inputs=inputs,
        outputs=outputs,
        max_batch=mb,
        fixed_batch=None if batching else (first["shape"][0] if first["shape"] else None),
        opt_batch=opt,
        profile_max=hi,
        library=lib,
        description=sidecar_description(side),
        sidecar=side,
    )


def _autoreg_plugin(explicit, side: dict) -> Path:
    """The self-registering plugin library: Triton dlopens plugin libraries (LD_PRELOAD, ``plugins=``) and never
    calls ``getCreators``, so the library must register its creator when loaded."""
    from ..native import LIB_NAMES, PluginNotFoundError, find_library

    auto, plain = LIB_NAMES["trt_autoreg"], LIB_NAMES["trt"]
    if explicit is not None:
        p = Path(explicit).expanduser()
        if p.is_file() and p.name == plain:
            beside = p.with_name(auto)
            if beside.is_file():
                return beside.resolve()
            raise RepositoryError(
                f"--plugin {p} is {plain}, which registers its creator only when TensorRT's loadLibrary asks; Triton "
                f"dlopens plugin libraries (LD_PRELOAD, --backend-config=tensorrt,plugins=), so it needs {auto} "
                "(built beside it by `nat-export build-plugins`); pass that one"
            )
        return find_library("trt_autoreg", p)
    recorded = (side.get("plugin") or {}).get("path") if isinstance(side.get("plugin"), dict) else None
    if recorded:
        beside = Path(recorded).with_name(auto)
        if beside.is_file():
            return beside.resolve()
    try:
        return find_library("trt_autoreg")
    except PluginNotFoundError as e:
        raise PluginNotFoundError(
            f"the engine has NA plugin layers and Triton needs the self-registering TensorRT plugin for them: "
            f"{str(e).split(';')[0]}; run `nat-export build-plugins` or pass --plugin {auto}"
        ) from None


# ---------------------------------------------------------------- config.pbtxt


def _q(text: str) -> str:
    """A protobuf text-format string literal."""
    out = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{out}"'


def _ints(values) -> str:
    return "[ " + ", ".join(str(int(v)) for v in values) + " ]"


def preferred_batch_sizes(m: ServedModel) -> list[int]:
    """The dynamic batcher's preferred sizes: the engine profile's opt batch and the max (the sizes TensorRT tuned
    kernels for); for ONNX Runtime the max."""
    sizes = {m.max_batch}
    if m.opt_batch and 1 < m.opt_batch <= m.max_batch:
        sizes.add(m.opt_batch)
    return sorted(sizes)


def model_parameters(m: ServedModel) -> dict[str, str]:
    """``parameters`` of the configuration: the recorded description as ``nat_export.<field>`` (JSON for structured
    fields, as in the ONNX metadata; labels are the labels file), and how the file was made."""
    desc = ModelDescription(**{k: v for k, v in vars(m.description).items() if k not in ("labels", "extra")})
    params = desc.to_props()
    params["nat_export.source_file"] = m.path.name
    params["nat_export.model_kind"] = m.what()
    if m.sidecar:
        for key in ("precision", "tensorrt_version"):
            if m.sidecar.get(key) is not None:
                params[f"nat_export.{key}"] = str(m.sidecar[key])
    return params


def render_config(
    m: ServedModel,
    name: str,
    *,
    instances: int = 1,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
    library_path: str | None = None,
) -> str:
    """``config.pbtxt`` text (Triton's ``ModelConfig`` in protobuf text format).

    ``library_path``: the op library / plugin path as the server sees it (written into ``model_operations`` for
    custom-op ONNX graphs, and into a comment for engines).
    """
    from .. import __version__

    onnx = m.kind == "onnx"
    lines = [
        f"{MARKER} {__version__}: {m.path.name} ({m.what()}), a Triton model configuration",
    ]
    if not onnx and library_path:
        lines.append(f"{MARKER} plugin: {library_path}")
    lines += [
        f"name: {_q(name)}",
        f"platform: {_q('onnxruntime_onnx' if onnx else 'tensorrt_plan')}",
        f"backend: {_q('onnxruntime' if onnx else 'tensorrt')}",
        f"default_model_filename: {_q(m.model_filename)}",
        f"max_batch_size: {int(m.max_batch)}",
    ]
    labels_out = m.labels_output
    for key, tensors in (("input", m.inputs), ("output", m.outputs)):
        lines.append(f"{key} [")
        for i, t in enumerate(tensors):
            lines += ["  {", f"    name: {_q(t.name)}", f"    data_type: TYPE_{t.data_type}"]
            if t.dims:
                lines.append(f"    dims: {_ints(t.dims)}")
            else:  # a tensor of the batch axis only: Triton wants non-empty dims
                lines += ["    dims: [ 1 ]", "    reshape { shape: [ ] }"]
            if key == "output" and t.name == labels_out:
                lines.append(f"    label_filename: {_q('labels.txt')}")
            lines.append("  }," if i < len(tensors) - 1 else "  }")
        lines.append("]")
    if m.max_batch > 0:
        lines += [
            "dynamic_batching {",
            f"  preferred_batch_size: {_ints(preferred_batch_sizes(m))}",
            f"  max_queue_delay_microseconds: {int(queue_delay_us)}",
            "}",
        ]
    lines += [
        "instance_group [",
        "  {",
        f"    count: {int(instances)}",
        f"    kind: {'KIND_CPU' if onnx else 'KIND_GPU'}",
        "  }",
        "]",
    ]
    if onnx and library_path:
        lines += ["model_operations {", f"  op_library_filename: {_q(library_path)}", "}"]
    for key, value in model_parameters(m).items():
        lines += ["parameters {", f"  key: {_q(key)}", f"  value: {{ string_value: {_q(value)} }}", "}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the repository


def check_name(name: str) -> str:
    """A Triton model name that is also a safe folder name.

    Raises:
        RepositoryError: anything but letters, digits, ``_ . -`` (not first), at most 128 characters.
    """
    if not _NAME.match(name or "") or name.isdigit():
        raise RepositoryError(
            f"--name {name!r} is not a model name Triton and a folder both take (letters, digits, _ . -, not "
            "starting with . or -, not only digits); e.g. --name nat_tiny"
        )
    return name


def default_name(path: str | Path) -> str:
    """The model name a file gets by default: its stem with other characters made ``_``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).lstrip(".-") or "model"
    return f"m_{stem}" if stem.isdigit() else stem[:128]


def _is_ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().startswith(("# Triton model repository written by nat-export", MARKER))
    except OSError:
        return False


def check_targets(out_dir: str | Path, name: str, source: str | Path, force: bool) -> None:
    """Refuse, before any work, what :func:`write_repository` must not touch.

    Raises:
        FileExistsError: ``OUT_DIR/<name>`` exists (without ``force``), or ``OUT_DIR/README.md`` exists and was
            not written by nat-export (without ``force``), or OUT_DIR is a file.
        RepositoryError: the source file lies inside the entry it would replace.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder; give the model repository folder")
    entry = out / name
    if Path(source).resolve().is_relative_to(entry.resolve()):
        raise RepositoryError(
            f"{source} lies inside {entry}, the repository entry that would be replaced; copy the model elsewhere "
            "first, or give another --name"
        )
    if (entry.exists() or entry.is_symlink()) and not force:
        raise FileExistsError(f"{entry} exists (a model of this repository); pass --force to replace it, or --name")
    readme = out / "README.md"
    if readme.exists() and not force and not _is_ours(readme):
        raise FileExistsError(
            f"{readme} exists and was not written by nat-export; pass --force to replace it, or choose another folder"
        )


def write_repository(
    m: ServedModel,
    out_dir: str | Path,
    *,
    name: str | None = None,
    instances: int = 1,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
    force: bool = False,
    server_path: str | None = None,
) -> Path:
    """Write ``OUT_DIR/<name>/`` (config, model, labels, library copy) and ``OUT_DIR/README.md``; returns the entry.

    The entry is built in a temporary folder inside OUT_DIR and renamed into place: nothing half-written is ever
    visible, and an existing entry is replaced only with ``force`` (and only once the new one is complete).

    Args:
        name: the model name (default: the file's stem).
        instances: ``instance_group`` count (KIND_CPU for ONNX, KIND_GPU for engines, per GPU).
        queue_delay_us: ``dynamic_batching.max_queue_delay_microseconds``.
        server_path: where the server will see OUT_DIR (default: OUT_DIR's absolute path), for the library paths
            written into the configuration and the README.

    Raises:
        RepositoryError / FileExistsError: see :func:`check_name`, :func:`check_targets`; ``instances`` < 1.
        OSError: OUT_DIR cannot be written.
    """
    out = Path(out_dir).absolute()
    name = check_name(name or default_name(m.path))
    if instances < 1:
        raise RepositoryError(f"--instances must be >= 1, got {instances}; e.g. --instances 1")
    if queue_delay_us < 0:
        raise RepositoryError(f"--max-queue-delay-us must be >= 0, got {queue_delay_us}; e.g. 100")
    check_targets(out, name, m.path, force)
    served = (server_path or str(out)).rstrip("/") or "/"
    lib_in_server = f"{served}/{name}/1/{m.library.name}" if m.library is not None else None
    out.mkdir(parents=True, exist_ok=True)
    entry = out / name
    with _building(out, name) as tmp:
        (tmp / "1").mkdir()
        shutil.copyfile(m.path, tmp / "1" / m.model_filename)
        for rel in _external_data(m):
            (tmp / "1" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(m.path.parent / rel, tmp / "1" / rel)
        if m.library is not None:
            shutil.copyfile(m.library, tmp / "1" / m.library.name)
            os.chmod(tmp / "1" / m.library.name, 0o755 & ~_umask())
        if m.labels_output is not None:
            (tmp / "labels.txt").write_text("".join(f"{lab}\n" for lab in m.description.labels))
        config = render_config(m, name, instances=instances, queue_delay_us=queue_delay_us, library_path=lib_in_server)
        (tmp / "config.pbtxt").write_text(config)
        _publish_dir(tmp, entry, force)
    write_readme(out, served)
    return entry


def _umask() -> int:
    u = os.umask(0)
    os.umask(u)
    return u


def _external_data(m: ServedModel) -> list[str]:
    """Files an ONNX model keeps its weights in (external data), relative to the model's folder."""
    if m.kind != "onnx":
        return []
    import onnx

    model = onnx.load(str(m.path), load_external_data=False)
    found = []
    for t in onnx.external_data_helper._get_all_tensors(model):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = next((e.value for e in t.external_data if e.key == "location"), None)
            if loc and loc not in found:
                if Path(loc).is_absolute() or ".." in Path(loc).parts:
                    raise RepositoryError(
                        f"{m.path.name} keeps weights in {loc}, outside its folder; re-export it with the weights "
                        "beside the model"
                    )
                found.append(loc)
    return found


class _building:
    """A temporary folder ``OUT/.<name>.tmp-*`` removed on any failure, on SIGTERM and SIGHUP too."""

    def __init__(self, out: Path, name: str):
        self.out, self.name = out, name

    def __enter__(self) -> Path:
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}.tmp-", dir=self.out))
        os.chmod(self.tmp, 0o777 & ~_umask())
        self.previous = {}
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self.previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        return self.tmp

    def _on_signal(self, signum, frame):
        shutil.rmtree(self.tmp, ignore_errors=True)
        signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
        os.kill(os.getpid(), signum)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(self.tmp, ignore_errors=True)  # gone already when it was published
        return False


def _publish_dir(tmp: Path, entry: Path, force: bool) -> None:
    """Rename the finished folder into place; with ``force`` the old entry is moved aside first and removed after."""
    old = None
    if entry.exists() or entry.is_symlink():
        if not force:
            raise FileExistsError(f"{entry} exists (a model of this repository); pass --force to replace it")
        old = Path(tempfile.mkdtemp(prefix=f".{entry.name}.old-", dir=entry.parent))
        os.rename(entry, old / entry.name)
    try:
        os.rename(tmp, entry)
    except OSError:
        if old is not None:  # put the old entry back
            os.rename(old / entry.name, entry)
            shutil.rmtree(old, ignore_errors=True)
        if entry.exists():
            raise FileExistsError(f"{entry} exists (a model of this repository); pass --force to replace it") from None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- README


def repository_models(out: Path) -> list[dict]:
    """The nat-export models of a repository, read back from their config.pbtxt: ``{name, platform, max_batch,
    library, source}``."""
    found = []
    for cfg in sorted(out.glob("*/config.pbtxt")):
        try:
            text = cfg.read_text()
        except OSError:
            continue
        if not text.startswith(MARKER):
            continue

        def field_of(key, text=text):
            hit = re.search(rf"^{key}: (.*)$", text, re.M)
            return json.loads(hit.group(1)) if hit and hit.group(1).startswith('"') else (hit and hit.group(1))

        lib = re.search(r'op_library_filename: (".*")', text) or re.search(rf"^{MARKER} plugin: (.*)$", text, re.M)
        lib_path = lib and (json.loads(lib.group(1)) if lib.group(1).startswith('"') else lib.group(1))
        found.append(
            {
                "name": field_of("name"),
                "platform": field_of("platform"),
                "max_batch": int(field_of("max_batch_size") or 0),
                "library": lib_path,
                "about": text.splitlines()[0].split(": ", 1)[-1].rsplit(", a Triton", 1)[0],
            }
        )
    return found


def readme_text(out: Path, served: str) -> str:
    """The README of a repository: its models and the exact ``tritonserver`` command lines."""
    from .. import __version__

    models = repository_models(out)
    engines = [m for m in models if m["platform"] == "tensorrt_plan"]
    plugins = []
    for m in engines:  # one copy per library name: TensorRT refuses a second registration of the same plugin
        if m["library"] and Path(m["library"]).name not in {Path(p).name for p in plugins}:
            plugins.append(m["library"])
    gpu = "--gpus all " if engines else ""
    rows = "\n".join(
        f"| `{m['name']}` | {'TensorRT (GPU)' if m['platform'] == 'tensorrt_plan' else 'ONNX Runtime (CPU)'} | "
        f"{m['max_batch'] or 'fixed'} | {m['about']} |"
        for m in models
    )
    preload = ":".join(plugins)
    serve_line = f"tritonserver --model-repository={served}"
    lines = [
        f"# Triton model repository written by nat-export {__version__}",
        "",
        "| model | backend | max batch | from |",
        "|---|---|---|---|",
        rows,
        "",
        "Paths in the configurations are absolute, as the server sees this folder: "
        f"`{served}` (`nat-export triton-repo --server-path` changes it).",
        "",
        "## Start the server",
        "",
    ]
    if plugins:
        lines += [
            "The engines need the neighborhood-attention TensorRT plugin. Triton loads it either way:",
            "",
            "```bash",
            f"LD_PRELOAD={preload} {serve_line}",
            f'{serve_line} --backend-config=tensorrt,plugins="{";".join(plugins)}"',
            "```",
            "",
        ]
    else:
        lines += ["```bash", serve_line, "```", ""]
    env = f"-e LD_PRELOAD={preload} " if plugins else ""
    lines += [
        "With NVIDIA's container (the folder mounted at the same path, so the paths above hold; use the release "
        "whose TensorRT is the one that built the engines and whose ONNX Runtime takes the op library, see Triton's "
        "release notes):",
        "",
        "```bash",
        f"docker run --rm {gpu}-p 8000:8000 -p 8001:8001 -p 8002:8002 -v {served}:{served} {env}"
        f"nvcr.io/nvidia/tritonserver:<yy.mm>-py3 {serve_line}",
        "```",
        "",
        "## Ask it",
        "",
        "```bash",
    ]
    for m in models:
        lines.append(f"curl -s localhost:8000/v2/models/{m['name']}/config   # what the server loaded")
    lines += [
        "```",
        "",
        "Inputs are preprocessed pixel values (the recipe is in each config's `nat_export.preprocessing` "
        "parameter); `tritonclient` (`pip install tritonclient[http]`) sends them as numpy arrays. See nat-export's "
        "docs/serving.md.",
        "",
    ]
    return "\n".join(lines)


def write_readme(out: Path, served: str) -> Path:
    """(Re)write ``OUT_DIR/README.md`` for every nat-export model there."""
    from ..onnx.files import write_atomic

    path = out / "README.md"
    write_atomic(path, readme_text(out, served).encode(), force=True)
    return path
