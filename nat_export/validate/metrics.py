"""Agreement metrics and per-precision tolerances (docs/design.md, "Precision")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    atol: float  # max |a - b| <= atol + rtol * max|reference|
    rtol: float
    min_cosine: float
    min_top1: float  # fraction of samples whose top-1 class agrees (logits only)


TOLERANCES = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-4, min_cosine=0.99999, min_top1=0.99),
    "fp16": Tolerance(atol=1e-2, rtol=1e-2, min_cosine=0.999, min_top1=0.99),
    "bf16": Tolerance(atol=5e-2, rtol=5e-2, min_cosine=0.99, min_top1=0.95),
}


def compare(reference: np.ndarray, test: np.ndarray, logits: bool) -> dict:
    """Metrics of ``test`` against ``reference`` (same shape); top-k only for logits [N, classes]."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(test, dtype=np.float64)
    if ref.shape != out.shape:
        return {"shape_mismatch": f"{list(out.shape)} vs reference {list(ref.shape)}"}
    diff = np.abs(ref - out)
    a, b = ref.reshape(ref.shape[0], -1), out.reshape(out.shape[0], -1)
    cos = np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    m = {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "mean_abs": float(diff.mean()) if diff.size else 0.0,
        "rel_l2": float(np.linalg.norm(ref - out) / max(np.linalg.norm(ref), 1e-30)),
        "cosine": float(cos.min()) if cos.size else 1.0,
        "ref_max": float(np.abs(ref).max()) if ref.size else 0.0,
        "finite": bool(np.isfinite(out).all()),
    }
    if logits and ref.ndim == 2:
        top_ref, top_out = ref.argmax(1), out.argmax(1)
        k = min(5, ref.shape[1])
        top5_ref = np.argsort(-ref, 1)[:, :k]
        m["top1"] = float((top_ref == top_out).mean())
        m["top5"] = float(np.mean([top_out[i] in top5_ref[i] for i in range(len(top_out))]))
    return m


def passes(m: dict, tol: Tolerance) -> bool:
    if "shape_mismatch" in m or not m["finite"]:
        return False
    ok = m["max_abs"] <= tol.atol + tol.rtol * m["ref_max"] and m["cosine"] >= tol.min_cosine
    if "top1" in m:
        ok = ok and m["top1"] >= tol.min_top1
    return ok
