"""The one schema of what nat-export records about a model: :class:`ModelDescription`.

Export writes it into the ONNX file as ``metadata_props`` (``nat_export.<field>``, JSON for
structured values); the TensorRT sidecar carries the same fields as plain JSON; validation,
the runtimes, ``infer`` and the C++ sample read it back. The preprocessing recipe is data of
the description (:class:`Preprocessing`), as timm's pretrained configs hold
mean / std / crop_pct / interpolation.

Torch-free: only the standard library (and an ONNX ``ModelProto`` passed in).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

__all__ = [
    "CROP_PCT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "METADATA_PREFIX",
    "MetadataError",
    "ModelDescription",
    "Preprocessing",
    "RESIZE_MODES",
]

METADATA_PREFIX = "nat_export."
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Fraction of the resized image kept by the center crop in the NAT/DiNAT ImageNet evaluation (timm's crop_pct).
CROP_PCT = 0.875
INTERPOLATIONS = ("bicubic", "bilinear", "nearest")


class MetadataError(ValueError):
    """Recorded metadata that cannot be decoded; the message names the field and the fix."""


def _fail(where: str, key: str, what: str) -> MetadataError:
    return MetadataError(f"{where}: {key} {what}; re-export the model with `nat-export onnx` (or rebuild the engine)")


def _override_error(what: str, expected: str) -> MetadataError:
    return MetadataError(f"--preprocess {what} is not {expected}; fix the --preprocess value")


RESIZE_MODES = ("shorter_side", "exact")
#: Pillow mode an image is converted to -> channels fed to the model.
COLORS = {"RGB": 3, "L": 1}


@dataclass(frozen=True)
class Preprocessing:
    """Image -> ``pixel_values``: convert the color, resize, center-crop, scale, normalize.

    Two resize modes (the two published recipes):

    - ``shorter_side`` (timm / the SHI-Labs evaluation): resize the shorter side to ``resize_shorter_side``
      keeping the aspect ratio, then center-crop ``center_crop`` (crop_pct = min(crop) / shorter side);
    - ``exact`` (HF's ``ViTImageProcessor``: ``size`` in ``preprocessor_config.json``): resize the whole
      image to ``center_crop`` (H, W), ignoring the aspect ratio; nothing is cropped.

    Attributes:
        center_crop: (H, W) of the model input, pixels.
        resize_shorter_side: the shorter image side after resizing, pixels (``shorter_side`` mode; in
            ``exact`` mode min(H, W), kept for readers that predate the mode).
        interpolation: ``bicubic`` | ``bilinear`` | ``nearest`` (Pillow filters).
        scale: multiplies the 0..255 pixel values before normalization.
        mean, std: per channel (or one value for every channel), applied after ``scale``.
        layout: ``NCHW``.
        color: the Pillow mode images are converted to: ``RGB`` (3 channels) or ``L`` (1-channel models).
        resize_mode: ``shorter_side`` (default, and what files without the field mean) or ``exact``.
    """

    center_crop: tuple[int, int]
    resize_shorter_side: int
    interpolation: str = "bicubic"
    scale: float = 1 / 255
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    layout: str = "NCHW"
    color: str = "RGB"
    resize_mode: str = "shorter_side"

    @classmethod
    def imagenet(cls, resolution: Sequence[int], crop_pct: float = CROP_PCT, **kw) -> Preprocessing:
        """The ImageNet evaluation recipe at ``resolution`` (H, W): shorter side to min(H, W) / crop_pct, bicubic."""
        h, w = int(resolution[0]), int(resolution[1])
        return cls(center_crop=(h, w), resize_shorter_side=round(min(h, w) / crop_pct), **kw)

    @classmethod
    def exact(cls, resolution: Sequence[int], **kw) -> Preprocessing:
        """HF's recipe: resize the image to ``resolution`` (H, W) exactly, no crop."""
        h, w = int(resolution[0]), int(resolution[1])
        return cls(center_crop=(h, w), resize_shorter_side=min(h, w), resize_mode="exact", **kw)

    @property
    def crop_pct(self) -> float:
        """The fraction of the resized image's shorter side that the crop keeps (1.0 in ``exact`` mode)."""
        return 1.0 if self.resize_mode == "exact" else min(self.center_crop) / self.resize_shorter_side

    @property
    def channels(self) -> int | None:
        """Channels the recipe feeds (None for a color nat-export cannot convert images to)."""
        return COLORS.get(self.color)

    def at(self, resolution: Sequence[int]) -> Preprocessing:
        """The same recipe (mode, crop_pct, filter, normalization) for a model input of ``resolution`` (H, W)."""
        h, w = int(resolution[0]), int(resolution[1])
        if (h, w) == tuple(self.center_crop):
            return self
        if self.resize_mode == "exact":
            return replace(self, center_crop=(h, w), resize_shorter_side=min(h, w))
        return replace(self, center_crop=(h, w), resize_shorter_side=round(min(h, w) / self.crop_pct))

    def override(
        self,
        resize: str | None = None,
        crop_pct: float | None = None,
        interpolation: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> Preprocessing:
        """This recipe with some parts replaced (``--preprocess``): ``resize`` ``shorter_side`` | ``exact``,
        ``crop_pct`` in (0, 1] (implies ``shorter_side``), ``interpolation``, ``mean`` / ``std`` per channel.

        Raises:
            MetadataError: a value out of range.
        """
        where = "--preprocess"
        d: dict = self.to_dict()
        if resize is not None:
            if resize not in RESIZE_MODES:
                raise _override_error(f"resize={resize}", f"one of {', '.join(RESIZE_MODES)}")
            d["resize_mode"] = resize
            d["resize_shorter_side"] = None
        if crop_pct is not None:
            if not (isinstance(crop_pct, (int, float)) and 0 < crop_pct <= 1):
                raise _override_error(f"crop_pct={crop_pct}", "a number in (0, 1]")
            d["resize_mode"] = "shorter_side"
            d["resize_shorter_side"] = round(min(self.center_crop) / crop_pct)
        elif resize == "shorter_side":
            d["resize_shorter_side"] = round(min(self.center_crop) / (self.crop_pct if self.crop_pct < 1 else CROP_PCT))
        if interpolation is not None:
            d["interpolation"] = interpolation
        if mean is not None:
            d["mean"] = list(mean)
        if std is not None:
            d["std"] = list(std)
        try:
            return Preprocessing.from_dict(d, where)
        except MetadataError as e:
            problem = str(e).split(": ", 1)[-1].split(";")[0].replace("preprocessing.", "")
            raise MetadataError(f"--preprocess: {problem}; fix the --preprocess value") from None

    def for_channels(self, channels: int) -> Preprocessing:
        """The recipe for a model taking ``channels`` input channels: ``L`` for 1 (mean / std averaged), ``RGB``
        for 3; other counts keep the recipe (images cannot be converted to them: :attr:`channels` differs)."""
        if channels == self.channels:
            return self
        if channels == 1:
            return replace(
                self, color="L", mean=(sum(self.mean) / len(self.mean),), std=(sum(self.std) / len(self.std),)
            )
        if channels == 3:
            mean = self.mean * 3 if len(self.mean) == 1 else self.mean
            std = self.std * 3 if len(self.std) == 1 else self.std
            return replace(self, color="RGB", mean=mean, std=std)
        return replace(self, color=f"{channels}-channel")

    def to_dict(self) -> dict:
        return {
            "resize_shorter_side": self.resize_shorter_side,
            "interpolation": self.interpolation,
            "center_crop": list(self.center_crop),
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
            "color": self.color,
            "resize_mode": self.resize_mode,
        }

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "preprocessing") -> Preprocessing:
        """Decode and check a recipe dict (missing fields take the ImageNet defaults; a dict without
        ``resize_mode``, as nat-export wrote before the field existed, means ``shorter_side``).

        Raises:
            MetadataError: a field of the wrong type or out of range.
        """
        if isinstance(d, Preprocessing):
            return d
        if not isinstance(d, Mapping):
            raise _fail(where, "preprocessing", "is not a JSON object")
        try:
            crop = tuple(int(x) for x in d["center_crop"])
            if len(crop) != 2 or min(crop) < 1:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise _fail(where, "preprocessing.center_crop", "is not [H, W] with positive integers") from None
        mode = d.get("resize_mode", "shorter_side")
        if mode not in RESIZE_MODES:
            raise _fail(where, "preprocessing.resize_mode", f"is {mode!r}, not one of {', '.join(RESIZE_MODES)}")
        short = d.get("resize_shorter_side")
        if short is None:
            short = min(crop) if mode == "exact" else round(min(crop) / CROP_PCT)
        if isinstance(short, bool) or not isinstance(short, (int, float)) or short < 1:
            raise _fail(where, "preprocessing.resize_shorter_side", "is not a positive integer")
        interp = str(d.get("interpolation", "bicubic")).lower()
        if interp not in INTERPOLATIONS:
            raise _fail(where, "preprocessing.interpolation", f"is {interp!r}, not one of {', '.join(INTERPOLATIONS)}")
        vec = {}
        for key, default in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
            try:
                v = tuple(float(x) for x in d.get(key, default))
                if not v or not all(math.isfinite(x) for x in v) or (key == "std" and min(v) <= 0):
                    raise ValueError
            except (TypeError, ValueError):
                raise _fail(where, f"preprocessing.{key}", "is not a list of finite numbers (std > 0)") from None
            vec[key] = v
        try:
            scale = float(d.get("scale", 1 / 255))
            if not math.isfinite(scale) or scale <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise _fail(where, "preprocessing.scale", "is not a positive number") from None
        return cls(
            center_crop=crop,
            resize_shorter_side=int(short),
            interpolation=interp,
            scale=scale,
            mean=vec["mean"],
            std=vec["std"],
            layout=str(d.get("layout", "NCHW")),
            color=str(d.get("color", "RGB")),
            resize_mode=mode,
        )


def _str(v, where, key):
    if not isinstance(v, str):
        raise _fail(where, key, "is not a string")
    return v


def _dict(v, where, key):
    if not isinstance(v, dict):
        raise _fail(where, key, "is not a JSON object")
    return v


def _resolution(v, where, key):
    if (
        not isinstance(v, (list, tuple))
        or len(v) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
    ):
        raise _fail(where, key, "is not [H, W] with positive integers")
    return (int(v[0]), int(v[1]))


def _labels(v, where, key):
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _fail(where, key, "is not a list of strings")
    return list(v)


def _feature_maps(v, where, key):
    ok = isinstance(v, list) and all(
        isinstance(m, dict)
        and isinstance(m.get("name"), str)
        and all(
            isinstance(m.get(k), int) and not isinstance(m.get(k), bool) and m[k] > 0 for k in ("channels", "stride")
        )
        for m in v
    )
    if not ok:
        raise _fail(where, key, "is not a list of {name, channels, stride}")
    return [{"name": m["name"], "channels": m["channels"], "stride": m["stride"]} for m in v]


def _choice(*allowed):
    def check(v, where, key):
        if v not in allowed:
            raise _fail(where, key, f"is {v!r}, not one of {', '.join(allowed)}")
        return v

    return check


#: field -> (stored as JSON?, decoder). The order is the order written.
_SCHEMA = {
    "variant": (False, _str),
    "config": (True, _dict),
    "contract_version": (False, _choice("1")),  # the NA op contract this nat-export implements
    "na_mode": (False, _choice("plugin", "portable")),
    "dtype": (False, _choice("fp32", "fp16", "bf16")),
    "resolution": (True, _resolution),
    "preprocessing": (True, lambda v, where, key: Preprocessing.from_dict(v, where)),
    "labels": (True, _labels),
    "feature_maps": (True, _feature_maps),
    "source": (True, _dict),
    "exporter_version": (False, _str),
    "precision_conversion": (False, _str),
}


@dataclass
class ModelDescription:
    """What a model file is: variant, config, precision, NA mode, input resolution, preprocessing, labels.

    Every field is optional (files from other tools carry none). ``resolution`` is (H, W) in pixels;
    ``dtype`` is the graph's float type (``fp32`` | ``fp16`` | ``bf16``); ``na_mode`` is ``plugin``
    (NA as the contract op) or ``portable`` (standard ONNX ops); ``source`` says how to rebuild the
    PyTorch reference (``{"model", "from_pretrained", "weights"}``). A backbone's ``feature_maps`` list its
    outputs in graph order: ``{"name": "stage1", "channels": 192, "stride": 4}`` (stride in input pixels).
    """

    variant: str | None = None
    config: dict | None = None
    contract_version: str | None = None
    na_mode: str | None = None
    dtype: str | None = None
    resolution: tuple[int, int] | None = None
    preprocessing: Preprocessing | None = None
    labels: list[str] | None = None
    feature_maps: list[dict] | None = None
    source: dict | None = None
    exporter_version: str | None = None
    precision_conversion: str | None = None
    extra: dict[str, str] = field(default_factory=dict, repr=False)  # other nat_export.* keys, kept as text

    # ------------------------------------------------------------ plain JSON (the sidecar)

    def to_json(self) -> dict:
        """The fields that are set, as plain JSON values (the engine sidecar's top-level keys)."""
        out = {}
        for name in _SCHEMA:
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, Preprocessing):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[name] = v
        return out

    @classmethod
    def from_json(cls, data: Mapping, where: str = "sidecar") -> ModelDescription:
        """The schema's fields of a JSON object (other keys are ignored).

        Raises:
            MetadataError: a field of the wrong type.
        """
        kwargs = {}
        for name, (_, decode) in _SCHEMA.items():
            if data.get(name) is not None:
                kwargs[name] = decode(data[name], where, name)
        return cls(**kwargs)

    # ------------------------------------------------------------ ONNX metadata_props

    def to_props(self) -> dict[str, str]:
        """``{"nat_export.<field>": text}``: JSON for structured fields, plain text otherwise."""
        props = {}
        for name, value in self.to_json().items():
            is_json = _SCHEMA[name][0]
            props[METADATA_PREFIX + name] = json.dumps(value) if is_json else str(value)
        for k, v in self.extra.items():
            props[METADATA_PREFIX + k] = v
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str = "model") -> ModelDescription:
        """Decode ``nat_export.*`` properties (other keys are ignored).

        Raises:
            MetadataError: a value that is not valid JSON, or of the wrong type.
        """
        data, extra = {}, {}
        for key, text in props.items():
            if not key.startswith(METADATA_PREFIX):
                continue
            name = key[len(METADATA_PREFIX) :]
            if name not in _SCHEMA:
                extra[name] = text
                continue
            if _SCHEMA[name][0]:
                try:
                    data[name] = json.loads(text)
                except json.JSONDecodeError:
                    raise _fail(where, key, "is not valid JSON") from None
            else:
                data[name] = text
        desc = cls.from_json(data, where)
        desc.extra = extra
        return desc

    @classmethod
    def read(cls, model, where: str = "model") -> ModelDescription:
        """The description recorded in an ONNX ``ModelProto``.

        Raises:
            MetadataError: tampered or invalid ``nat_export.*`` metadata.
        """
        return cls.from_props({p.key: p.value for p in model.metadata_props}, where)

    def write(self, model) -> None:
        """Set this description's properties on an ONNX ``ModelProto`` (replacing the same keys)."""
        props = self.to_props()
        keep = [p for p in model.metadata_props if p.key not in props]
        del model.metadata_props[:]
        for p in keep:
            model.metadata_props.add(key=p.key, value=p.value)
        for k, v in props.items():
            model.metadata_props.add(key=k, value=v)

    # ------------------------------------------------------------ derived facts

    @property
    def is_nat_export(self) -> bool:
        """Whether the file was written by nat-export (it records a contract version)."""
        return self.contract_version is not None

    def preprocessing_or_default(self, input_shape: Sequence | None = None) -> Preprocessing | None:
        """The recorded recipe, else the ImageNet recipe at the recorded resolution or the input's static H, W;
        for the input's channel count when ``input_shape`` ``[N, C, H, W]`` has a static C (a 1-channel model
        gets ``L`` images, also from files that recorded an RGB recipe)."""
        pp = self.preprocessing
        if pp is None:
            res = self.resolution
            if res is None and input_shape is not None and len(input_shape) == 4:
                hw = input_shape[2:]
                if all(isinstance(d, int) and d > 0 for d in hw):
                    res = (int(hw[0]), int(hw[1]))
            if res is None:
                return None
            pp = Preprocessing.imagenet(res)
        if input_shape is not None and len(input_shape) == 4:
            c = input_shape[1]
            if isinstance(c, int) and not isinstance(c, bool) and c > 0:
                pp = pp.for_channels(c)
        return pp


def field_names() -> list[str]:
    """The schema's field names, in the order they are written."""
    return [f.name for f in fields(ModelDescription) if f.name in _SCHEMA]
