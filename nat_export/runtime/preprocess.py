"""Images -> ``pixel_values`` as the model's :class:`~nat_export.onnx.metadata.Preprocessing` says,
and logits -> top-k labels. Pillow decodes the images.

The recipe (``nat_export.preprocessing`` in the ONNX, ``preprocessing`` in an engine's sidecar)
is the one NAT/DiNAT were evaluated with unless the model file says otherwise: resize the
shorter side to ``res / 0.875`` (bicubic), center-crop ``res``, scale to [0, 1], normalize with
the ImageNet mean/std, NCHW, RGB.
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
        raise ImportError("reading images needs Pillow: pip install pillow") from None
    return Image


def open_image(path: str | Path):
    """An RGB PIL image; a clear error for missing or undecodable files."""
    Image = _pil()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} not found")
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ValueError(
            f"cannot read image {path} ({type(e).__name__}: {e}); use a JPEG, PNG, PPM or another format Pillow reads"
        ) from None
    return img.convert("RGB")


def resize_and_crop(img, pp: Preprocessing | Mapping):
    """Resize (shorter side, keeping the aspect ratio, never below the crop) and center-crop."""
    Image = _pil()
    pp = _recipe(pp)
    crop_h, crop_w = pp.center_crop
    short = pp.resize_shorter_side
    w, h = img.size
    if w <= h:  # as torchvision's Resize(int): the shorter side becomes `short`
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    if new_w < crop_w or new_h < crop_h:  # a crop wider/taller than the resized image: grow it
        f = max(crop_w / new_w, crop_h / new_h)
        new_w, new_h = max(crop_w, int(np.ceil(new_w * f))), max(crop_h, int(np.ceil(new_h * f)))
    method = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[pp.interpolation]
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), method)
    left = int(round((new_w - crop_w) / 2.0))
    top = int(round((new_h - crop_h) / 2.0))
    return img.crop((left, top, left + crop_w, top + crop_h))


def image_to_array(img, pp: Preprocessing | Mapping) -> np.ndarray:
    """A cropped RGB image -> normalized float32 ``[3, H, W]``."""
    pp = _recipe(pp)
    x = np.asarray(img, dtype=np.float32) * pp.scale
    mean = np.asarray(pp.mean, dtype=np.float32)
    std = np.asarray(pp.std, dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def load_images(paths: Sequence[str | Path], pp: Preprocessing | Mapping) -> np.ndarray:
    """Images -> ``pixel_values`` float32 ``[N, 3, H, W]``.

    Raises:
        FileNotFoundError: an image is missing.
        ValueError: an image Pillow cannot decode.
        nat_export.onnx.metadata.MetadataError: an invalid recipe.
    """
    pp = _recipe(pp)
    return np.stack([image_to_array(resize_and_crop(open_image(p), pp), pp) for p in paths])


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
