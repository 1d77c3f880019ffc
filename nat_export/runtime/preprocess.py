"""Images -> ``pixel_values`` as the exporter's metadata describes, and logits -> top-k labels.

The recipe (``nat_export.preprocessing`` in the ONNX, ``preprocessing`` in an engine's
sidecar) is the one NAT/DiNAT were evaluated with: resize the shorter side to
``res / 0.875`` (bicubic), center-crop ``res``, scale to [0, 1], normalize with the
ImageNet mean/std, NCHW, RGB. Pillow decodes the images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_PCT = 0.875


def default_preprocessing(resolution: Sequence[int]) -> dict:
    """The recipe for a model evaluated at ``resolution`` (H, W), when the model file carries none."""
    h, w = int(resolution[0]), int(resolution[1])
    return {
        "resize_shorter_side": round(min(h, w) / CROP_PCT),
        "interpolation": "bicubic",
        "center_crop": [h, w],
        "scale": 1 / 255,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "layout": "NCHW",
        "color": "RGB",
    }


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
        raise ValueError(f"cannot read image {path} ({type(e).__name__}: {e}); use a JPEG, PNG, PPM or another format Pillow reads") from None
    return img.convert("RGB")


def resize_and_crop(img, pp: dict):
    """Resize (shorter side, keeping the aspect ratio, never below the crop) and center-crop."""
    Image = _pil()
    crop_h, crop_w = (int(x) for x in pp["center_crop"])
    short = int(pp.get("resize_shorter_side") or round(min(crop_h, crop_w) / CROP_PCT))
    w, h = img.size
    if w <= h:  # as torchvision's Resize(int): the shorter side becomes `short`
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    if new_w < crop_w or new_h < crop_h:  # a crop wider/taller than the resized image: grow it
        f = max(crop_w / new_w, crop_h / new_h)
        new_w, new_h = max(crop_w, int(np.ceil(new_w * f))), max(crop_h, int(np.ceil(new_h * f)))
    method = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}.get(
        str(pp.get("interpolation", "bicubic")).lower(), Image.BICUBIC
    )
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), method)
    left = int(round((new_w - crop_w) / 2.0))
    top = int(round((new_h - crop_h) / 2.0))
    return img.crop((left, top, left + crop_w, top + crop_h))


def image_to_array(img, pp: dict) -> np.ndarray:
    """A cropped RGB image -> normalized float32 ``[3, H, W]``."""
    x = np.asarray(img, dtype=np.float32) * float(pp.get("scale", 1 / 255))
    mean = np.asarray(pp.get("mean", IMAGENET_MEAN), dtype=np.float32)
    std = np.asarray(pp.get("std", IMAGENET_STD), dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def load_images(paths: Sequence[str | Path], pp: dict) -> np.ndarray:
    """Images -> ``pixel_values`` float32 ``[N, 3, H, W]``."""
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
