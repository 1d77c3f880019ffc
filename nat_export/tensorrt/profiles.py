"""Optimization profiles: min / opt / max shapes per input, from trtexec-style shape arguments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_BATCH_PROFILE", "Profile", "ProfileError", "parse_shape_arg", "profiles_from_args"]

#: min / opt / max batch for a dynamic batch axis when no shape is given.
DEFAULT_BATCH_PROFILE = (1, 8, 32)


class ProfileError(ValueError):
    """Shapes for the optimization profile that do not fit the ONNX inputs; the message says how to fix them."""


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One optimization profile: per input name, the (min, opt, max) shapes."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]

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
            raise ProfileError(f"shape for {key or 'the input'} given twice in {text!r}")
        out[key] = shape
    return out


def _spec_for(spec: dict[str | None, tuple[int, ...]], name: str, n_inputs: int, flag: str):
    if name in spec:
        return spec[name]
    if None in spec:
        if n_inputs > 1:
            raise ProfileError(f"the ONNX has {n_inputs} inputs: name the one {flag} is for ({flag} NAME:NxCxHxW)")
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
        raise ProfileError(f"{flag} gives {len(spec)} dims for input {name}, which has {rank} ({list(onnx_shape)})")
    for ax, (want, d) in enumerate(zip(spec, onnx_shape)):
        if _is_static(d) and want != d:
            raise ProfileError(f"{flag} sets axis {ax} of input {name} to {want}, but the ONNX fixes it to {d}")
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
    - nothing: static inputs as they are; a dynamic batch gets :data:`DEFAULT_BATCH_PROFILE`.

    Dynamic axes other than the batch take ``resolution`` (H, W of a 4-D input) when only
    the batch is given, otherwise full shapes are required.
    """
    if not inputs:
        raise ProfileError("the ONNX graph has no inputs")
    given = [a for a in (min_shapes, opt_shapes, max_shapes) if a is not None]
    if batch is not None and given:
        raise ProfileError("use either --batch or --min/--opt/--max, not both")
    if batch is not None and batch < 1:
        raise ProfileError(f"--batch must be >= 1, got {batch}")
    mins, opts, maxs = (parse_shape_arg(a) for a in (min_shapes, opt_shapes, max_shapes))
    if mins and not (opts or maxs):
        raise ProfileError("--min needs --max (and optionally --opt)")
    for spec, flag in ((mins, "--min"), (opts, "--opt"), (maxs, "--max")):
        unknown = [k for k in spec if k is not None and k not in inputs]
        if unknown:
            raise ProfileError(f"{flag} names input {unknown[0]!r}; the ONNX inputs are {', '.join(inputs)}")
    n = len(inputs)
    shapes = {}
    for name, onnx_shape in inputs.items():
        onnx_shape = list(onnx_shape)
        dynamic = [ax for ax, d in enumerate(onnx_shape) if not _is_static(d)]
        if batch is not None:
            if onnx_shape and _is_static(onnx_shape[0]) and onnx_shape[0] != batch:
                raise ProfileError(
                    f"input {name} has a fixed batch of {onnx_shape[0]}; drop --batch or re-export with a dynamic batch"
                )
            s = _full_shape(name, onnx_shape, (batch,), "--batch", resolution)
            lo = op = hi = s
        elif given:
            lo = _full_shape(name, onnx_shape, _spec_for(mins, name, n, "--min"), "--min", resolution)
            op = _full_shape(name, onnx_shape, _spec_for(opts, name, n, "--opt"), "--opt", resolution)
            hi = _full_shape(name, onnx_shape, _spec_for(maxs, name, n, "--max"), "--max", resolution)
            op = op or hi
            hi = hi or op
            if op is None:
                if dynamic:
                    raise ProfileError(f"no --opt/--max shape for input {name}, which has dynamic axes {dynamic}")
                op = hi = lo = tuple(onnx_shape)
            if lo is None:
                lo = (1, *op[1:]) if onnx_shape and not _is_static(onnx_shape[0]) else op
        else:
            if not dynamic:
                lo = op = hi = tuple(onnx_shape)
            else:
                b_lo, b_opt, b_hi = DEFAULT_BATCH_PROFILE if 0 in dynamic else (onnx_shape[0],) * 3
                lo = _full_shape(name, onnx_shape, (b_lo,), "--min", resolution)
                op = _full_shape(name, onnx_shape, (b_opt,), "--opt", resolution)
                hi = _full_shape(name, onnx_shape, (b_hi,), "--max", resolution)
        if not (len(lo) == len(op) == len(hi)):
            raise ProfileError(f"min/opt/max shapes of input {name} have different ranks")
        for ax in range(len(lo)):
            if not lo[ax] <= op[ax] <= hi[ax]:
                raise ProfileError(
                    f"input {name}: axis {ax} needs min <= opt <= max, got {lo[ax]} / {op[ax]} / {hi[ax]} "
                    f"(min {list(lo)}, opt {list(op)}, max {list(hi)})"
                )
        shapes[name] = (tuple(lo), tuple(op), tuple(hi))
    return [Profile(shapes)]
