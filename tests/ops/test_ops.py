"""The NA op against natten 0.17.4 goldens, natten 0.21 (no bias), a brute-force definition, and in fp16/bf16."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from nat_export.ops import NAShapeError, na2d, na2d_gather, na2d_qkv, na2d_qkv_reference, window_indices

from ..conftest import FIXTURES

CASES = json.loads((FIXTURES / "na2d_natten.json").read_text())["cases"]


def brute_force(q, k, v, kernel, dilation, rpb, scale):
    """The contract written out literally, one query at a time, in float64."""
    B, H, W, heads, D = q.shape
    (kh, kw), (dh, dw) = kernel, dilation
    out = torch.zeros(B, H, W, heads, D, dtype=torch.float64)

    def window(i, L, K, d):
        nb, g, p = K // 2, i % d, i // d
        full = -(-L // d)
        lg = full - (1 if g >= d - (full * d - L) else 0)
        s = max(p - nb, 0) + ((lg - p - nb - 1) if p + nb >= lg else 0)
        return [(s + t) * d + g for t in range(K)], [(K - 1) + (s + t - p) for t in range(K)]

    for i in range(H):
        ki, bi = window(i, H, kh, dh)
        for j in range(W):
            kj, bj = window(j, W, kw, dw)
            keys = [(a, b) for a in ki for b in kj]
            bias = [(a, b) for a in bi for b in bj]
            for n in range(B):
                for h in range(heads):
                    logits = torch.stack([scale * (q[n, i, j, h].double() @ k[n, a, b, h].double()) for a, b in keys])
                    if rpb is not None:
                        logits = logits + torch.stack([rpb[h, a, b].double() for a, b in bias])
                    p = logits.softmax(0)
                    out[n, i, j, h] = sum(p[t] * v[n, a, b, h].double() for t, (a, b) in enumerate(keys))
    return out


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("fn", [na2d, na2d_gather], ids=["loop", "gather"])
def test_natten_0174_goldens(case, fn):
    t = load_file(str(FIXTURES / "na2d_natten.safetensors"))
    c = CASES[case]
    heads_last = lambda name: t[f"case{case}.{name}"].permute(0, 2, 3, 1, 4)  # noqa: E731
    rpb = t.get(f"case{case}.rpb")
    assert (rpb is not None) == c["has_rpb"]
    out = fn(heads_last("q"), heads_last("k"), heads_last("v"), c["kernel_size"], c["dilation"], rpb, c["scale"])
    assert out.dtype == torch.float64
    assert (out - heads_last("out")).abs().max().item() <= 1e-10


def test_custom_op_matches_reference_and_is_one_node():
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(2, 9, 11, 3 * 2 * 8, generator=g)
    rpb = torch.randn(2, 5, 5, generator=g)
    ref = na2d_qkv_reference(qkv, 2, 3, (2, 1), rpb, 0.3)
    out = na2d_qkv(qkv, 2, 3, (2, 1), rpb, 0.3)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)

    class M(torch.nn.Module):
        def forward(self, x):
            return na2d_qkv(x, 2, 3, (2, 1), rpb, 0.3)

    ep = torch.export.export(M(), (qkv,))
    targets = [n.target for n in ep.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.nat_export.na2d_qkv.default) == 1


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(3, 12),
    w=st.integers(3, 12),
    kh=st.sampled_from([1, 3, 5]),
    kw=st.sampled_from([1, 3, 5]),
    dh=st.integers(1, 3),
    dw=st.integers(1, 3),
    heads=st.integers(1, 2),
    d=st.sampled_from([1, 4]),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_brute_force_random_shapes(h, w, kh, kw, dh, dw, heads, d, bias, seed):
    if h < kh * dh or w < kw * dw:
        with pytest.raises(NAShapeError, match="smaller than kernel_size"):
            na2d(*torch.zeros(3, 1, h, w, heads, d), (kh, kw), (dh, dw))
        return
    g = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(3, 1, h, w, heads, d, generator=g, dtype=torch.float64)
    rpb = torch.randn(heads, 2 * kh - 1, 2 * kw - 1, generator=g, dtype=torch.float64) if bias else None
    ref = brute_force(q, k, v, (kh, kw), (dh, dw), rpb, 0.7)
    for fn in (na2d, na2d_gather):
        assert (fn(q, k, v, (kh, kw), (dh, dw), rpb, 0.7) - ref).abs().max().item() <= 1e-12


@pytest.mark.parametrize(
    "shape,kernel,dilation",
    [((1, 14, 14, 2, 32), 7, 1), ((2, 17, 13, 3, 16), (5, 3), (3, 4)), ((1, 28, 28, 2, 32), 7, 4)],
)
def test_natten_021_without_bias(shape, kernel, dilation):
    natten = pytest.importorskip(
        "natten", reason="natten 0.21 is a test-only dependency (pip install natten --no-build-isolation)"
    )
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(3, *shape, generator=g)
    ours = na2d(q, k, v, kernel, dilation)
    theirs = natten.na2d(q, k, v, kernel_size=kernel, dilation=dilation)
    assert (ours - theirs).abs().max().item() <= 1e-5


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
def test_half_precision_accumulates_in_fp32(dtype, tol):
    g = torch.Generator().manual_seed(2)
    q, k, v = torch.randn(3, 2, 16, 12, 2, 32, generator=g)
    rpb = torch.randn(2, 13, 13, generator=g)
    ref = na2d(q, k, v, 7, (2, 1), rpb)
    for fn in (na2d, na2d_gather):
        out = fn(q.to(dtype), k.to(dtype), v.to(dtype), 7, (2, 1), rpb.to(dtype))
        assert out.dtype == dtype
        assert (out.float() - ref).abs().max().item() <= tol


def test_window_indices_shift_inward_and_dilation_groups():
    keys, bias = window_indices(7, 3, 1)
    assert keys[0].tolist() == [0, 1, 2] and keys[6].tolist() == [4, 5, 6] and keys[3].tolist() == [2, 3, 4]
    assert bias[0].tolist() == [2, 3, 4] and bias[6].tolist() == [0, 1, 2]
    keys, _ = window_indices(10, 3, 3)  # groups of 4, 3, 3 (10 % 3 != 0)
    assert keys[0].tolist() == [0, 3, 6] and keys[9].tolist() == [3, 6, 9] and keys[8].tolist() == [2, 5, 8]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(kernel_size=4), "odd"),
        (dict(kernel_size=3, dilation=0), "dilation"),
        (dict(kernel_size=7), "height 5 is smaller than kernel_size\\*dilation = 7\\*1"),
        (dict(kernel_size=3, rpb=torch.zeros(1, 5, 5)), "rpb must be"),
    ],
)
def test_clear_errors(kwargs, match):
    q = torch.zeros(1, 5, 9, 2, 4)
    with pytest.raises(NAShapeError, match=match):
        na2d(q, q, q, **kwargs)


def test_memory_no_dense_attention():
    """No single op of the loop form allocates more than the [B,H,W,heads,K*K] logits (never HW x HW)."""
    q = torch.randn(1, 64, 64, 2, 16)
    with torch.profiler.profile(profile_memory=True) as prof:
        na2d(q, q, q, 7)
    largest = max(e.cpu_memory_usage for e in prof.events())
    logits_bytes = 64 * 64 * 2 * 49 * 4
    assert 0 < largest <= logits_bytes


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_reference_refuses_a_scale_the_core_refuses(scale):
    q = torch.zeros(1, 8, 8, 2, 4)
    with pytest.raises(NAShapeError, match="scale"):
        na2d(q, q, q, 3, scale=scale)
