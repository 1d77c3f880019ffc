"""Images -> ``pixel_values`` as the model's :class:`~nat_export.onnx.metadata.Preprocessing` says,
and logits -> top-k labels. Pillow decodes the images.

The recipe (``nat_export.preprocessing`` in the ONNX, ``preprocessing`` in an engine's sidecar) is the
checkpoint's: HF's ``preprocessor_config.json`` (resize to exactly ``size``, bicubic), else the variant's
published evaluation recipe (resize the shorter side to ``res / crop_pct``, bicubic, center-crop ``res``;
crop_pct 0.875 at 224, 1.0 at 384); then scale to [0, 1] and normalize, NCHW. Images are converted to the
recipe's ``color``: ``RGB`` for 3-channel models, ``L`` for 1-channel ones; 16-bit images are scaled to
8 bits first (not clipped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..onnx.metadata import Preprocessing

__all__ = [
    "default_preprocessing",
    "load_images",
    "open_image",
    "resize_and_crop",
    "save_raw_tensor",
    "softmax",
    "top_k",
]


def default_preprocessing(resolution: Sequence[int]) -> dict:
    """The ImageNet recipe at ``resolution`` (H, W) as a dict (:meth:`Preprocessing.imagenet`)."""
    return Preprocessing.imagenet(resolution).to_dict()


def _recipe(pp: Preprocessing | Mapping) -> Preprocessing:
    return pp if isinstance(pp, Preprocessing) else Preprocessing.from_dict(pp)


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow; pip install pillow") from None
    return Image


def _to_8bit(img):
    """16- / 32-bit integer grayscale (``I;16*``, ``I``) scaled to 8-bit ``L``: Pillow's convert would clip."""
    Image = _pil()
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        a = a.astype(np.float64) / 257.0
    elif img.mode == "I":
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        a = a.astype(np.float64) * (255.0 / top)
    else:
        return img
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")


def open_image(path: str | Path, color: str = "RGB"):
    """A PIL image in mode ``color`` (``RGB`` or ``L``); a clear error for missing or undecodable files.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file Pillow cannot decode, or a floating-point or 32-bit image (its range is unknown).
    """
    Image = _pil()
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"image {path} is a folder; pass image files (e.g. {path}/*.jpg)")
    if path.exists() and not path.is_file():
        raise FileNotFoundError(f"image {path} is not a regular file; pass image files")
    if not path.is_file():
        raise FileNotFoundError(f"image {path} not found; check the path")
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ValueError(
            f"cannot read image {path} ({type(e).__name__}: {e}); use a JPEG, PNG, PPM or another format Pillow reads"
        ) from None
    if img.mode == "F":
        raise ValueError(f"{path} is a floating-point image whose range is unknown; save it as 8- or 16-bit")
    if img.mode == "I" and not (0 <= img.getextrema()[0] and img.getextrema()[1] <= 65535):
        raise ValueError(f"{path} is a 32-bit image with values outside 0..65535; save it as 8- or 16-bit")
    return _to_8bit(img).convert(color)


#: largest intermediate image the resize may make (pixels); Pillow's own decompression-bomb limit guards decoding
MAX_RESIZED_PIXELS = 64 * 10**6


def resize_and_crop(img, pp: Preprocessing | Mapping):
    """Resize and crop as the recipe says: ``exact`` resizes to the input size; ``shorter_side`` resizes the
    shorter side (keeping the aspect ratio, never below the crop) and center-crops."""
    Image = _pil()
    pp = _recipe(pp)
    crop_h, crop_w = pp.center_crop
    method = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[pp.interpolation]
    if pp.resize_mode == "exact":
        return img if img.size == (crop_w, crop_h) else img.resize((crop_w, crop_h), method)
    short = pp.resize_shorter_side
    w, h = img.size
    if w <= h:  # as torchvision's Resize(int): the shorter side becomes `short`
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    if new_w < crop_w or new_h < crop_h:  # a crop wider/taller than the resized image: grow it
        f = max(crop_w / new_w, crop_h / new_h)
        new_w, new_h = max(crop_w, int(np.ceil(new_w * f))), max(crop_h, int(np.ceil(new_h * f)))
    if new_w * new_h > MAX_RESIZED_PIXELS:  # e.g. a 1x300000 strip: its resize alone would take gigabytes
        raise ValueError(
            f"image of {w}x{h} pixels would be resized to {new_w}x{new_h} (shorter side {short}), more than "
            f"{MAX_RESIZED_PIXELS // 10**6} million pixels; crop it to a usual aspect ratio first"
        )
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), method)
    left = int(round((new_w - crop_w) / 2.0))
    top = int(round((new_h - crop_h) / 2.0))
    return img.crop((left, top, left + crop_w, top + crop_h))


def image_to_array(img, pp: Preprocessing | Mapping) -> np.ndarray:
    """A resized RGB or L image -> normalized float32 ``[C, H, W]`` (C = 3 or 1).

    Raises:
        ValueError: mean / std with a number of values other than 1 or C.
    """
    pp = _recipe(pp)
    x = np.asarray(img, dtype=np.float32) * pp.scale
    if x.ndim == 2:
        x = x[:, :, None]
    c = x.shape[-1]
    mean = np.asarray(pp.mean, dtype=np.float32)
    std = np.asarray(pp.std, dtype=np.float32)
    if mean.size not in (1, c) or std.size not in (1, c):
        raise ValueError(
            f"the preprocessing has {mean.size} mean / {std.size} std values for {c}-channel images; "
            "give 1 or one per channel (--preprocess mean=... std=...)"
        )
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def load_images(paths: Sequence[str | Path], pp: Preprocessing | Mapping) -> np.ndarray:
    """Images -> ``pixel_values`` float32 ``[N, C, H, W]``, converted to the recipe's color (``RGB``: C = 3,
    ``L``: C = 1).

    Raises:
        FileNotFoundError: an image is missing.
        ValueError: an image Pillow cannot decode, or a recipe for a channel count images cannot be converted
            to (models with other than 1 or 3 input channels).
        nat_export.onnx.metadata.MetadataError: an invalid recipe.
    """
    pp = _recipe(pp)
    if pp.channels is None:
        raise ValueError(
            f"the model takes {pp.color} input; images can be fed to 1-channel (L) or 3-channel (RGB) models only: "
            "prepare the tensor yourself"
        )
    return np.stack([image_to_array(resize_and_crop(open_image(p, pp.color), pp), pp) for p in paths])


def save_raw_tensor(path: str | Path, x: np.ndarray) -> None:
    """Raw float32 (C order, little-endian) -- the tensor format the C++ sample reads."""
    np.ascontiguousarray(x, dtype="<f4").tofile(str(path))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(logits: np.ndarray, labels: Sequence[str] | None = None, k: int = 5) -> list[list[dict]]:
    """Per row of ``logits [N, classes]``: the k best as ``{"index", "label", "probability"}``."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim == 1:
        logits = logits[None]
    probs = softmax(logits)
    k = min(k, logits.shape[-1])
    rows = []
    for p in probs:
        idx = np.argsort(-p, kind="stable")[:k]
        rows.append(
            [
                {
                    "index": int(i),
                    "label": labels[i] if labels is not None and i < len(labels) else f"class {int(i)}",
                    "probability": float(p[i]),
                }
                for i in idx
            ]
        )
    return rows
