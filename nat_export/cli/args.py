"""Argument groups shared by the commands: one vocabulary for the whole tool (as Polygraphy's ``tools/args``).

- model selection: ``--model`` / ``--from-pretrained`` / ``--weights``, ``--ema``, ``--preprocess``
- precision: ``--fp16`` / ``--bf16`` (fp32 otherwise)
- libraries: ``--plugin`` (TensorRT plugin) and ``--ort-op-library`` (ONNX Runtime NA op)
- ONNX Runtime: ``--provider`` / ``--threads``
- outputs: ``--json FILE`` (``-`` = stdout), ``--force``
- ``-v`` / ``--verbose``

Old spellings stay for one release as deprecated aliases (:class:`DeprecatedAlias`): they work,
and print one warning line naming the new spelling.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .errors import UsageError

PRECISIONS = ("fp32", "fp16", "bf16")


def warn_deprecated(old: str, use_instead: str, prog: str = "nat-export") -> None:
    """One warning line on stderr for an old spelling (``prog``: ``nat-export CMD``)."""
    print(
        f"{prog}: warning: {old} is deprecated and will be removed in the next release; use {use_instead}",
        file=sys.stderr,
    )


class DeprecatedAlias(argparse.Action):
    """An old flag that stores into the new flag's ``dest``. After parsing, :func:`finish_aliases` refuses it
    when the new flag was given a different value, and otherwise prints its one warning line.

    ``spell``: the new flag for a value, as a format string (``"--batch-sizes {}"``, ``"--{}"``).
    """

    def __init__(self, option_strings, dest, use_instead: str, spell: str = "{}", const=None, nargs=None, **kw):
        self.use_instead, self.spell = use_instead, spell
        super().__init__(option_strings, dest, nargs=nargs, const=const, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        value = self.const if self.nargs == 0 else values
        before = getattr(namespace, self.dest, None)
        vars(namespace).setdefault("_deprecated_given", []).append((self, option_string, value, before))
        setattr(namespace, self.dest, value)


def finish_aliases(parser, namespace) -> str | None:
    """The deprecated flags given (:class:`DeprecatedAlias`): the problem when one contradicts its new
    spelling, given before or after it; else None, after one warning line per old flag."""
    given = vars(namespace).pop("_deprecated_given", [])
    for action, option, value, before in given:
        # a value that neither the default nor an old flag set came from the new flag
        old_values = {v for a, _, v, _ in given if a.dest == action.dest}
        for other in (before, getattr(namespace, action.dest)):
            if other != parser.get_default(action.dest) and other not in old_values:
                new = action.spell.format(other)
                return f"{option} {value} and {new} disagree; give one of them ({option} is deprecated: use {new})"
    for option, action in {option: action for action, option, _, _ in given}.items():
        warn_deprecated(option, action.use_instead, parser.prog)
    return None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def thread_count(text: str) -> int:
    """argparse type: an integer from 1 to the number of CPUs this process may use (more only slows down, and
    a typo such as 100000 would start that many threads)."""
    import os

    value = positive_int(text)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if value > cpus:
        raise argparse.ArgumentTypeError(f"{value} is more than the {cpus} CPUs this machine has; use at most {cpus}")
    return value


def add_model_args(p, default_hint: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        metavar="NAME|CONFIG",
        help="built-in variant (see `nat-export models`) or a config.json"
        + (" (default: nat-tiny, randomly initialised)" if default_hint else ""),
    )
    g.add_argument(
        "--from-pretrained",
        metavar="ID_OR_DIR",
        help="HF hub id (read offline from the cache when present) or checkpoint folder",
    )
    g.add_argument(
        "--weights",
        metavar="FILE",
        help="state dict or training checkpoint (.pth/.pth.tar/.bin/.safetensors, original SHI-Labs or HF layout); "
        "needs --model unless the file has a published name (see `nat-export models`)",
    )
    g.add_argument(
        "--ema",
        action="store_true",
        help="load the EMA weights of a --weights training checkpoint (state_dict_ema / model_ema)",
    )
    g.add_argument(
        "--preprocess",
        action="append",
        metavar="KEY=VALUE",
        help="override the checkpoint's preprocessing recipe (repeatable; pairs may also be space-separated): "
        "resize=shorter_side|exact, crop_pct=F, interpolation=bicubic|bilinear|nearest, mean=R,G,B, std=R,G,B",
    )


def add_backbone_args(p, features_alias: bool = False) -> None:
    """``--backbone`` / ``--out-features`` (and the deprecated ``--features`` of ``onnx``)."""
    g = p.add_argument_group("backbone (detection / segmentation)")
    g.add_argument(
        "--backbone",
        action="store_true",
        help="export the feature maps (HF NatBackbone / DinatBackbone: each stage's output before downsampling, "
        "through its LayerNorm), even from a classifier checkpoint; backbone checkpoints (HF backbones, OneFormer / "
        "Mask2Former, mmdet / mmseg / detectron2) are exported as backbones without it",
    )
    g.add_argument(
        "--out-features",
        metavar="STAGES",
        help="the stages to output, comma-separated (stage1..stage4, stride 4..32); default: the checkpoint's, "
        "else all (implies --backbone)",
    )
    if features_alias:
        g.add_argument(
            "--features",
            dest="backbone",
            action=DeprecatedAlias,
            nargs=0,
            const=True,
            use_instead="--backbone",
            spell="--backbone",
            help=argparse.SUPPRESS,
        )


def parse_out_features(text) -> list[str] | None:
    """``--out-features stage1,stage3`` -> ``["stage1", "stage3"]`` (checked against the model when it is built).

    Raises:
        UsageError: a value naming no stage.
    """
    if text is None or isinstance(text, list):
        return text
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if not names:
        raise UsageError(f"--out-features {text!r} names no stage; e.g. --out-features stage1,stage2,stage3,stage4")
    return names


def has_model_args(args) -> bool:
    return bool(
        getattr(args, "model", None) or getattr(args, "from_pretrained", None) or getattr(args, "weights", None)
    )


PREPROCESS_KEYS = ("resize", "crop_pct", "interpolation", "mean", "std")


def parse_preprocess(items) -> dict | None:
    """``--preprocess`` values (``KEY=VALUE`` pairs, repeated or space-separated) -> override keywords of
    :meth:`nat_export.onnx.metadata.Preprocessing.override`.

    Raises:
        UsageError: an unknown key or a value that does not parse.
    """
    if not items:
        return None
    out: dict = {}
    for pair in (p for item in items for p in str(item).replace(";", " ").split()):
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in PREPROCESS_KEYS or not value:
            raise UsageError(
                f"--preprocess {pair!r} is not KEY=VALUE with KEY one of {', '.join(PREPROCESS_KEYS)}; "
                "e.g. --preprocess crop_pct=1.0 --preprocess mean=0.5,0.5,0.5"
            )
        try:
            if key == "crop_pct":
                out[key] = float(value)
            elif key in ("mean", "std"):
                out[key] = [float(x) for x in value.split(",")]
            else:
                out[key] = value.lower()
        except ValueError:
            raise UsageError(f"--preprocess {pair!r}: {value!r} is not a number (list); fix the value") from None
    return out


_NOT_GIVEN = object()


def load_from_args(args, spec=_NOT_GIVEN, console=None):
    """LoadedModel from --model/--from-pretrained/--weights (with --ema / --preprocess); else from ``spec`` (the
    ONNX metadata's recorded ``source``; ``None`` passed for a file that records none is an error, never a
    default model); else the default model. Notes of the loader are printed on ``console``.

    Raises:
        ConfigError / CheckpointError: the model cannot be built or loaded; for a recorded source, one line
            naming --model/--from-pretrained/--weights as the fix.
        UsageError: a malformed --preprocess.
    """
    from ..models import load_model

    preprocess = parse_preprocess(getattr(args, "preprocess", None))
    ema = bool(getattr(args, "ema", False))
    backbone = {
        "backbone": bool(getattr(args, "backbone", False)),
        "out_features": parse_out_features(getattr(args, "out_features", None)),
    }
    if has_model_args(args):
        loaded = load_model(
            args.model,
            from_pretrained=args.from_pretrained,
            weights=args.weights,
            ema=ema,
            preprocess=preprocess,
            **backbone,
        )
    elif spec is not _NOT_GIVEN:
        loaded = _load_recorded(spec, ema, preprocess)
    else:
        if ema:
            raise UsageError(
                "--ema picks the EMA weights of a --weights checkpoint; pass --weights FILE or leave out --ema"
            )
        loaded = load_model(None, preprocess=preprocess, **backbone)
    if console is not None:
        print_load_notes(args, loaded)
    return loaded


def print_load_notes(args, loaded) -> None:
    """The loader's notes and the random-weights warning, on stderr (stdout may carry the command's output)."""
    from .console import wide_console

    console = wide_console(stderr=True)
    for note in loaded.notes:
        console.print(f"note: {note}")
    _resolution_note(args, loaded, console)
    if loaded.source == "random":
        from ..models import VARIANTS

        variant = VARIANTS.get(str(loaded.name))
        hub = getattr(variant, "hub_id", None)
        where = f"--from-pretrained {hub} (or a checkpoint folder), or " if hub else "--from-pretrained DIR, or "
        console.print(
            f"[yellow]warning:[/] {loaded.name} is randomly initialised (no weights given); its outputs mean nothing. "
            f"Load real weights with {where}--weights FILE --model {loaded.name}"
        )


_RECORDED_FIX = "name the PyTorch model with --model/--from-pretrained/--weights"


def _load_recorded(spec, ema: bool, preprocess):
    """The reference a file records in ``nat_export.source``: exactly that model, or one line saying why not."""
    from ..models import CheckpointError, ConfigError, load_model

    keys = ("model", "from_pretrained", "weights")
    if not isinstance(spec, dict) or not any(spec.get(k) for k in keys):
        raise ConfigError(f"the file records no source model to compare against; {_RECORDED_FIX}")
    try:
        return load_model(
            spec.get("model"),
            from_pretrained=spec.get("from_pretrained"),
            weights=spec.get("weights"),
            ema=ema or bool(spec.get("ema")),
            revision=spec.get("revision"),
            preprocess=preprocess or spec.get("preprocess"),
            out_features=spec.get("out_features"),
            offline=True,  # a hub id a file records is read from the cache only
        )
    except (ConfigError, CheckpointError) as e:
        problem = str(e).rsplit("; ", 1)[0]
        recorded = ", ".join(f"{k}={spec[k]}" for k in (*keys, "revision") if spec.get(k))
        raise type(e)(f"the recorded source model ({recorded}) cannot be rebuilt: {problem}; {_RECORDED_FIX}") from None


def _resolution_note(args, loaded, console) -> None:
    """A note when ``--resolution`` differs from the resolution the checkpoint was evaluated at."""
    pp = loaded.model.config.preprocessing
    text = getattr(args, "resolution", None)
    if pp is None or text is None:
        return
    s = str(text).lower().replace(" ", "")
    try:
        parts = [int(p) for p in s.split("x")]
    except ValueError:
        return
    res = tuple(parts * 2 if len(parts) == 1 else parts)
    if res != tuple(pp.center_crop):
        h, w = pp.center_crop
        console.print(
            f"note: {loaded.name} was evaluated at {h}x{w} and its preprocessing is recorded for {res[0]}x{res[1]} "
            f"as the same recipe; pass --resolution {h if h == w else f'{h}x{w}'} to export at its own resolution"
        )


def add_precision_args(p, what: str, dtype_alias: bool = False, bf16_help: str | None = None) -> None:
    """``--fp16`` / ``--bf16`` into ``args.precision`` (default fp32); ``--dtype`` as a deprecated alias."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fp16", action="store_const", dest="precision", const="fp16", help=f"fp16 {what}")
    g.add_argument(
        "--bf16",
        action="store_const",
        dest="precision",
        const="bf16",
        help=bf16_help or f"bf16 {what} (GPUs: Ampere and newer)",
    )
    if dtype_alias:
        p.add_argument(
            "--dtype",
            action=DeprecatedAlias,
            dest="precision",
            choices=PRECISIONS,
            use_instead="--fp16 / --bf16",
            spell="--{}",
            help=argparse.SUPPRESS,
        )
    p.set_defaults(precision="fp32")


def add_library_args(p, *, trt: bool = True, ort: bool = True) -> None:
    g = p.add_argument_group("plugin libraries (default: the ones `nat-export build-plugins` built)")
    if trt:
        g.add_argument(
            "--plugin",
            metavar="LIB",
            help="TensorRT plugin library, or a folder holding it (libnat_export_trt.so; for ONNX Runtime's TensorRT "
            "EP the self-registering libnat_export_trt_autoreg.so)",
        )
    if ort:
        g.add_argument(
            "--ort-op-library",
            metavar="LIB",
            help="ONNX Runtime NA custom-op library (libnat_export_ort.so, or a folder)",
        )


def add_ort_args(p) -> None:
    g = p.add_argument_group("ONNX Runtime (for .onnx files)")
    g.add_argument("--provider", choices=("cpu", "tensorrt"), default="cpu", help="execution provider (default: cpu)")
    g.add_argument("--threads", type=thread_count, metavar="N", help="intra-op threads (default: ONNX Runtime's)")


class _JsonTarget(argparse.Action):
    """``--json FILE``; a bare ``--json`` (the old switch) means stdout, with a deprecation warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values is None:
            warn_deprecated("--json without a FILE", "--json - (stdout) or --json FILE", parser.prog)
            values = "-"
        setattr(namespace, self.dest, values)


def add_json_arg(p, what: str) -> None:
    """``--json FILE`` (``-``: stdout)."""
    p.add_argument(
        "--json", nargs="?", action=_JsonTarget, metavar="FILE", help=f"write {what} as JSON to FILE ('-': stdout)"
    )


def add_force_arg(p, what: str) -> None:
    p.add_argument("--force", action="store_true", help=f"overwrite {what} if it exists")


def add_verbose_arg(p) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="print more: backend logs, notes")


def model_input_files(args) -> list:
    """The files a command reads for --model / --weights / --from-pretrained (a folder: every file in it)."""
    from pathlib import Path

    files = []
    for value in (getattr(args, "model", None), getattr(args, "weights", None)):
        if value and Path(value).is_file():
            files.append(Path(value))
    pretrained = getattr(args, "from_pretrained", None)
    if pretrained and Path(pretrained).is_dir():
        files += [p for p in Path(pretrained).iterdir() if p.is_file()]
    return files


def check_not_an_input(output, inputs, what: str) -> None:
    """Refuse an output path that is one of the command's inputs, even with --force.

    Raises:
        UsageError: ``output`` resolves to one of ``inputs``.
    """
    from pathlib import Path

    out = Path(output).resolve()
    for src in inputs:
        if src is not None and out == Path(src).resolve():
            raise UsageError(f"{what} {output} is also an input ({src}); give the output another file name")


def check_writable(path, what: str) -> None:
    """Refuse, before any work, an output whose folder cannot be written.

    Raises:
        UsageError: the nearest existing folder above ``path`` is not writable, or is not a folder.
    """
    import os
    from pathlib import Path

    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {what} {path}: {folder} is not a folder; choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {path}: the folder {folder} is not writable; choose another path")


def check_json_target(args, inputs=()) -> None:
    """Refuse a ``--json`` file that is one of the inputs, or exists without ``--force``, before any work.

    Raises:
        UsageError / FileExistsError: the file would destroy an input or an existing file.
    """
    from pathlib import Path

    target = getattr(args, "json", None)
    if not target or target == "-":
        return
    path = Path(target)
    for src in inputs:
        if src is not None and path.resolve() == Path(src).resolve():
            raise UsageError(f"--json {target} is also an input file ({src}); give the report another file name")
    if path.is_dir():
        raise UsageError(f"--json {target} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise UsageError(f"--json {target} is not a regular file (a device or a pipe); give a file name")
    check_writable(path, "--json")
    if path.exists() and not getattr(args, "force", False):
        raise FileExistsError(f"{target} exists; pass --force to overwrite it")


def write_json(args, doc) -> None:
    """Write ``doc`` where ``--json`` says (stdout for ``-``), atomically for files."""
    import json
    from pathlib import Path

    from ..onnx.files import write_atomic

    text = json.dumps(doc, indent=1) + "\n"
    if args.json == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(args.json), text.encode(), force=True)


def quiet_torch_warnings() -> None:
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
