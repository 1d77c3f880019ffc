"""ONNX files: reading one once (:func:`read_onnx` -> :class:`OnnxFacts`), and atomic writes.

Torch-free. Every command that opens an ONNX file goes through :func:`read_onnx`, so a file
that does not parse is one clear error, and the graph is parsed once per command.
"""

from __future__ import annotations

import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .contract import is_na_node
from .metadata import MetadataError, ModelDescription

__all__ = ["OnnxFacts", "OnnxFileError", "count_na_nodes", "input_shapes", "read_onnx", "write_atomic"]

#: ONNX element type -> numpy dtype name.
ELEM_TYPES = {1: "float32", 10: "float16", 16: "bfloat16", 6: "int32", 7: "int64", 2: "uint8", 3: "int8", 9: "bool"}

Dim = "int | str | None"


class OnnxFileError(ValueError):
    """An ONNX file that is missing or does not parse; the message names the file and the fix."""


def count_na_nodes(model) -> int:
    """Number of contract NA nodes in an ONNX ``ModelProto``."""
    return sum(1 for n in model.graph.node if is_na_node(n))


def input_shapes(model) -> dict[str, list[int | str | None]]:
    """Graph inputs (initializers excluded) -> dims (int, or the dim_param / None when dynamic)."""
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        out[vi.name] = [
            int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in vi.type.tensor_type.shape.dim
        ]
    return out


def concrete_shape(dims, batch: int, resolution) -> tuple[int, ...]:
    """``dims`` (int, or a name / None where dynamic) with the batch set and dynamic H, W of a 4-D input taken
    from ``resolution`` (H, W).

    Raises:
        ValueError: ``"input axis N"`` for a dynamic axis that nothing fixes.
    """
    out = [int(batch)]
    for ax, d in enumerate(dims[1:], start=1):
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif resolution is not None and len(dims) == 4 and ax in (2, 3):
            out.append(int(resolution[ax - 2]))
        else:
            raise ValueError(f"input axis {ax}")
    return tuple(out)


def _elem_type(vi) -> str:
    return ELEM_TYPES.get(vi.type.tensor_type.elem_type, f"onnx type {vi.type.tensor_type.elem_type}")


@dataclass
class OnnxFacts:
    """What the tools need to know of an ONNX file, read once.

    Attributes:
        path: the file.
        inputs: graph input name -> dims (int; a name or None where dynamic), initializers excluded.
        input_types / output_types: name -> numpy dtype name (``float32``, ``float16``, ``bfloat16``, ...).
        outputs: graph output names, in order.
        na_nodes: number of contract NA nodes (0 for a portable graph).
        description: the ``nat_export.*`` metadata (empty for files written by other tools).
    """

    path: Path
    inputs: dict[str, list]
    input_types: dict[str, str]
    outputs: list[str]
    output_types: dict[str, str]
    na_nodes: int
    description: ModelDescription

    @property
    def input_name(self) -> str:
        return next(iter(self.inputs))

    @property
    def input_shape(self) -> list:
        return self.inputs[self.input_name]

    @property
    def fixed_batch(self) -> int | None:
        """The batch of the first input when the file fixes it, else None."""
        b = self.input_shape[0] if self.input_shape else None
        return b if isinstance(b, int) else None

    def shape_for_batch(self, batch: int) -> tuple[int, ...]:
        """The first input's concrete shape for ``batch`` (:func:`concrete_shape`).

        Raises:
            OnnxFileError: a dynamic axis that nothing recorded fixes.
        """
        try:
            return concrete_shape(self.input_shape, batch, self.description.resolution)
        except ValueError as e:
            raise OnnxFileError(
                f"{e} of {self.path} is dynamic and the file records no resolution; "
                "export it with `nat-export onnx --resolution HxW`"
            ) from None


def read_onnx(path: str | Path, *, load_weights: bool = False):
    """Parse an ONNX file once: ``(ModelProto, OnnxFacts)``.

    ``load_weights=False`` leaves external weight files unread (the graph, metadata and small
    initializers are enough for the facts).

    Raises:
        OnnxFileError: the file is missing, a folder, or not a parseable ONNX model.
        nat_export.onnx.metadata.MetadataError: tampered ``nat_export.*`` metadata.
    """
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.exists():
        raise OnnxFileError(f"{path} not found; pass an ONNX file written by `nat-export onnx`")
    if not path.is_file():
        raise OnnxFileError(f"{path} is not a file; pass an ONNX file written by `nat-export onnx`")
    try:
        model = onnx.load(str(path), load_external_data=load_weights)
    except (DecodeError, ValueError, OSError, RuntimeError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        why = " ".join(str(e).split())[:200] or type(e).__name__
        raise OnnxFileError(
            f"{path} is not a readable ONNX model ({why}); re-export it with `nat-export onnx`"
        ) from None
    if not model.graph.node and not model.graph.input:
        raise OnnxFileError(f"{path} is not an ONNX model (no graph); re-export it with `nat-export onnx`")
    inits = {i.name for i in model.graph.initializer}
    ins = [vi for vi in model.graph.input if vi.name not in inits]
    facts = OnnxFacts(
        path=path,
        inputs=input_shapes(model),
        input_types={vi.name: _elem_type(vi) for vi in ins},
        outputs=[o.name for o in model.graph.output],
        output_types={o.name: _elem_type(o) for o in model.graph.output},
        na_nodes=count_na_nodes(model),
        description=ModelDescription.read(model, where=str(path)),
    )
    if not facts.inputs:
        raise OnnxFileError(f"{path} has no graph inputs; re-export it with `nat-export onnx`")
    hw = facts.input_shape[2:] if len(facts.input_shape) == 4 else []
    res = facts.description.resolution
    if res is not None and all(isinstance(d, int) for d in hw) and len(hw) == 2 and list(res) != list(hw):
        raise MetadataError(
            f"{path}: nat_export.resolution says {list(res)} but the graph takes {hw}; "
            "re-export the model with `nat-export onnx`"
        )
    return model, facts


def _publish_new(tmp: str, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if nothing has that name (link + unlink; rename where links fail)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it") from None
    except OSError:  # a file system without hard links: the check and the rename are as close as they can be
        if path.exists():
            raise FileExistsError(f"{path} exists; pass --force to overwrite it") from None
        os.replace(tmp, path)
        return
    Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | memoryview, force: bool = True, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    The file gets ``mode`` (less the umask), not the temporary file's 0600. SIGTERM/SIGHUP during
    the write remove the temporary file before the process ends. Without ``force`` the file is
    published with a hard link, which fails if ``path`` appeared meanwhile (no check-then-act race
    between two writers); with ``force`` it replaces ``path`` by a rename.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is False, or ``path`` is a folder.
        OSError: the folder cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise FileExistsError(f"{path} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise FileExistsError(f"{path} is not a regular file (a device or a pipe); give a file name")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # name the file asked for, not the temporary one
        raise OSError(e.errno, e.strerror, str(path)) from None
    umask = os.umask(0)
    os.umask(umask)
    previous = {}

    def cleanup(signum, frame):
        Path(tmp).unlink(missing_ok=True)
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))
        os.kill(os.getpid(), signum)

    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_IGN:  # ignored (e.g. under nohup): it stays ignored
                continue
            try:
                previous[sig] = signal.signal(sig, cleanup)
            except ValueError:  # not the main thread
                pass
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode & ~umask)
        if force:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
