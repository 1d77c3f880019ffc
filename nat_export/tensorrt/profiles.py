"""Optimization profiles: min / opt / max shapes per input, from trtexec-style shape arguments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_BATCH_PROFILE", "Profile", "ProfileError", "default_sizes", "parse_shape_arg", "profiles_from_args"]

#: min / opt / max batch for a dynamic batch axis when no shape is given.
DEFAULT_BATCH_PROFILE = (1, 8, 32)
#: min / opt / max batch when height and width are dynamic too (detection / segmentation run batch 1 mostly;
#: the max shape sizes the engine's activation memory)
DEFAULT_BATCH_PROFILE_DYNAMIC_HW = (1, 1, 8)
#: a dynamic-resolution graph's smallest and largest side (``nat-export onnx --dynamic-resolution``)
MIN_SIDE, MAX_SIDE = 32, 4096


def default_sizes(resolution: Sequence[int]) -> dict[str, tuple[int, int]]:
    """(H, W) per role for dynamic height / width axes when no full shape is given: min 32x32 (any input the
    graph takes), opt the recorded resolution, max twice it (at most 4096): e.g. 640x640 -> 32x32 / 640x640 /
    1280x1280, so detection / segmentation inputs around the recorded size all fit one engine."""
    h, w = (int(x) for x in resolution)
    return {"min": (MIN_SIDE, MIN_SIDE), "opt": (h, w), "max": (min(2 * h, MAX_SIDE), min(2 * w, MAX_SIDE))}


class ProfileError(ValueError):
    """Shapes for the optimization profile that do not fit the ONNX inputs; the message says how to fix them."""


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One optimization profile: per input name, the (min, opt, max) shapes; ``defaults`` says which dynamic
    axes took default sizes (recorded in the engine sidecar as ``profile_defaults``)."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]
    defaults: str | None = None

    def to_json(self) -> dict:
        return {n: {"min": list(s[0]), "opt": list(s[1]), "max": list(s[2])} for n, s in self.shapes.items()}


def _is_static(d) -> bool:
    return isinstance(d, int) and d > 0


def parse_shape_arg(text: str | int | None) -> dict[str | None, tuple[int, ...]]:
    """``"8"`` (batch), ``"1x3x224x224"`` (full shape) or ``"name:1x3x224x224,other:..."``.

    Returns ``{input name or None: dims}``; one dim means the batch only.
    """
    if text is None:
        return {}
    out: dict[str | None, tuple[int, ...]] = {}
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        name, _, dims = part.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise ProfileError(
                f"shape {part!r} is not N (batch), NxCxHxW, or NAME:NxCxHxW with positive integers; "
                "use e.g. 8 or 8x3x224x224"
            ) from None
        if not shape or min(shape) < 1:
            raise ProfileError(f"shape {part!r} has a dimension < 1; every dimension must be a positive integer")
        key = name or None
        if key in out:
            raise ProfileError(f"shape for {key or 'the input'} given twice in {text!r}; give each input once")
        out[key] = shape
    return out


def _spec_for(spec: dict[str | None, tuple[int, ...]], name: str, n_inputs: int, flag: str):
    if name in spec:
        return spec[name]
    if None in spec:
        if n_inputs > 1:
            raise ProfileError(f"the ONNX has {n_inputs} inputs; name the one {flag} is for ({flag} NAME:NxCxHxW)")
        return spec[None]
    return None


def _full_shape(name: str, onnx_shape: Sequence, spec, flag: str, resolution) -> tuple[int, ...] | None:
    if spec is None:
        return None
    rank = len(onnx_shape)
    if len(spec) == 1 and rank != 1:  # batch only
        dims = [spec[0]]
        for ax, d in enumerate(onnx_shape[1:], start=1):
            if _is_static(d):
                dims.append(d)
            elif resolution is not None and rank == 4 and ax in (2, 3):
                dims.append(int(resolution[ax - 2]))
            else:
                raise ProfileError(
                    f"input {name} has a dynamic axis {ax} ({d!r}); give full shapes, e.g. {flag} {name}:"
                    + "x".join(str(x if _is_static(x) else "N") for x in onnx_shape)
                )
        return tuple(dims)
    if len(spec) != rank:
        raise ProfileError(
            f"{flag} gives {len(spec)} dims for input {name}, which has {rank} ({list(onnx_shape)}); "
            f"give the batch alone or all {rank} dims"
        )
    for ax, (want, d) in enumerate(zip(spec, onnx_shape)):
        if _is_static(d) and want != d:
            raise ProfileError(
                f"{flag} sets axis {ax} of input {name} to {want}, but the ONNX fixes it to {d}; use {d}"
            )
    return tuple(spec)


def profiles_from_args(
    inputs: dict[str, Sequence[int | str | None]],
    *,
    batch: int | None = None,
    min_shapes: str | None = None,
    opt_shapes: str | None = None,
    max_shapes: str | None = None,
    resolution: Sequence[int] | None = None,
) -> list[Profile]:
    """The optimization profile for ``inputs`` (name -> ONNX shape; str/None/<=0 = dynamic).

    - ``batch=N``: the batch axis is fixed to N (min = opt = max).
    - ``min_shapes``/``opt_shapes``/``max_shapes`` (each as :func:`parse_shape_arg`): a missing
      opt is max, a missing max is opt, a missing min is batch 1 with opt's other dims.
    - nothing: static inputs as they are; a dynamic batch gets :data:`DEFAULT_BATCH_PROFILE`
      (:data:`DEFAULT_BATCH_PROFILE_DYNAMIC_HW` when height and width are dynamic too).

    Dynamic height / width axes (a ``--dynamic-resolution`` file) take :func:`default_sizes` of ``resolution``
    (the recorded H, W) when only the batch is given; other dynamic axes need full shapes.
    """
    if not inputs:
        raise ProfileError("the ONNX graph has no inputs; re-export it with `nat-export onnx`")
    given = [a for a in (min_shapes, opt_shapes, max_shapes) if a is not None]
    if batch is not None and given:
        raise ProfileError("use either --batch or --min/--opt/--max, not both; drop one of them")
    if batch is not None and batch < 1:
        raise ProfileError(f"--batch must be >= 1, got {batch}; e.g. --batch 1")
    mins, opts, maxs = (parse_shape_arg(a) for a in (min_shapes, opt_shapes, max_shapes))
    if mins and not (opts or maxs):
        raise ProfileError("--min needs --max (and optionally --opt); add --max, e.g. --min 1 --max 32")
    for spec, flag in ((mins, "--min"), (opts, "--opt"), (maxs, "--max")):
        unknown = [k for k in spec if k is not None and k not in inputs]
        if unknown:
            raise ProfileError(f"{flag} names input {unknown[0]!r}; the ONNX inputs are {', '.join(inputs)}")
    n = len(inputs)
    shapes = {}
    sizes = default_sizes(resolution) if resolution is not None else {"min": None, "opt": None, "max": None}
    used_defaults = False
    for name, onnx_shape in inputs.items():
        onnx_shape = list(onnx_shape)
        dynamic = [ax for ax, d in enumerate(onnx_shape) if not _is_static(d)]
        if batch is not None:
            if onnx_shape and _is_static(onnx_shape[0]) and onnx_shape[0] != batch:
                raise ProfileError(
                    f"input {name} has a fixed batch of {onnx_shape[0]}; drop --batch or re-export with a dynamic batch"
                )
            lo, op, hi = (_full_shape(name, onnx_shape, (batch,), "--batch", sizes[r]) for r in ("min", "opt", "max"))
        elif given:
            specs = {
                role: _spec_for(spec, name, n, f"--{role}")
                for role, spec in (("min", mins), ("opt", opts), ("max", maxs))
            }
            lo, op, hi = (_full_shape(name, onnx_shape, specs[r], f"--{r}", sizes[r]) for r in ("min", "opt", "max"))
            # batch-only flags leave height / width to the defaults of each role
            batch_only = all(v is None or len(v) == 1 for v in specs.values()) and len(onnx_shape) != 1
            if op is None and hi is not None:
                op = _full_shape(name, onnx_shape, hi[:1], "--opt", sizes["opt"]) if batch_only else hi
            hi = hi or op
            if op is None:
                if dynamic:
                    raise ProfileError(
                        f"no --opt/--max shape for input {name}, which has dynamic axes {dynamic}; add --opt or --max"
                    )
                op = hi = lo = tuple(onnx_shape)
            if lo is None:
                batch_lo = 1 if onnx_shape and not _is_static(onnx_shape[0]) else op[0]
                lo = (
                    _full_shape(name, onnx_shape, (batch_lo,), "--min", sizes["min"])
                    if batch_only
                    else (batch_lo, *op[1:])
                )
        else:
            if not dynamic:
                lo = op = hi = tuple(onnx_shape)
            else:
                batches = DEFAULT_BATCH_PROFILE_DYNAMIC_HW if _hw_dynamic(onnx_shape) else DEFAULT_BATCH_PROFILE
                b_lo, b_opt, b_hi = batches if 0 in dynamic else (onnx_shape[0],) * 3
                lo = _full_shape(name, onnx_shape, (b_lo,), "--min", sizes["min"])
                op = _full_shape(name, onnx_shape, (b_opt,), "--opt", sizes["opt"])
                hi = _full_shape(name, onnx_shape, (b_hi,), "--max", sizes["max"])
        if not (len(lo) == len(op) == len(hi)):
            raise ProfileError(
                f"min/opt/max shapes of input {name} have different ranks; give them the same number of dims"
            )
        for ax in range(len(lo)):
            if not lo[ax] <= op[ax] <= hi[ax]:
                raise ProfileError(
                    f"input {name}: axis {ax} needs min <= opt <= max, got {lo[ax]} / {op[ax]} / {hi[ax]} "
                    f"(min {list(lo)}, opt {list(op)}, max {list(hi)}); fix --min/--opt/--max"
                )
        shapes[name] = (tuple(lo), tuple(op), tuple(hi))
        used_defaults |= _hw_dynamic(onnx_shape) and lo[2:] == sizes["min"] and hi[2:] == sizes["max"]
    note = None
    if used_defaults:
        (h0, w0), (h1, w1), (h2, w2) = sizes["min"], sizes["opt"], sizes["max"]
        note = (
            f"dynamic height/width: min {h0}x{w0}, opt {h1}x{w1} (the recorded resolution), max {h2}x{w2} (twice "
            "it); give full --min/--opt/--max NxCxHxW shapes for another range"
        )
    return [Profile(shapes, note)]


def _hw_dynamic(onnx_shape) -> bool:
    return len(onnx_shape) == 4 and not (_is_static(onnx_shape[2]) and _is_static(onnx_shape[3]))
