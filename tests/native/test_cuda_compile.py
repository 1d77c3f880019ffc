"""The CUDA kernel core without a GPU.

1. nvcc compiles it for every default architecture (sm_75..sm_90): the static library
   natx_core_cuda built by the session build is opened and the CUDA fat binary in its
   object is listed (a small reader of the ELF section `.nv_fatbin`, so that cuobjdump
   is not needed either).
2. The kernels' logic is right: libnatx_cuda_emu.so runs the very same kernel sources
   (na_cuda_kernel.cuh: scalar kernel, shared-memory and global-memory paths;
   na_cuda_tc.cuh: tensor-core kernel, WMMA emulated) on the CPU, one std::thread per
   CUDA thread, and their results are checked like the GPU's would be
   (scripts/gpu_check.py does that on a GPU)."""

from __future__ import annotations

import ctypes
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

EXPECTED_ARCHS = {75, 80, 86, 87, 89, 90}  # nat_export.native.build.DEFAULT_CUDA_ARCHS
FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_CUBIN = 1, 2


def _have_nvcc() -> bool:
    return shutil.which("nvcc") is not None or Path("/usr/local/cuda/bin/nvcc").is_file()


def ar_members(path: Path) -> dict[str, bytes]:
    """Members of a GNU/SysV ar archive."""
    data = path.read_bytes()
    assert data[:8] == b"!<arch>\n", f"{path} is not an ar archive"
    off, members, longnames = 8, {}, b""
    while off + 60 <= len(data):
        hdr = data[off : off + 60]
        name = hdr[:16].decode().strip()
        size = int(hdr[48:58].decode().strip())
        body = data[off + 60 : off + 60 + size]
        if name == "//":
            longnames = body
        elif name not in ("/", "/SYM64/"):
            if name.startswith("/") and name[1:].isdigit():
                start = int(name[1:])
                name = longnames[start : longnames.index(b"/\n", start)].decode()
            members[name.rstrip("/")] = body
        off += 60 + size + (size & 1)
    return members


def elf_section(data: bytes, wanted: str) -> bytes | None:
    """Contents of section `wanted` of a little-endian ELF64 object."""
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not an ELF64 object"
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = secs[shstrndx][4]
    for s in secs:
        start = strtab + s[0]
        if data[start : data.index(b"\0", start)].decode() == wanted:
            return data[s[4] : s[4] + s[5]]
    return None


def fatbin_entries(blob: bytes) -> list[tuple[int, int, bytes]]:
    """(kind, sm arch, payload) for each entry of the fat binaries in `blob`."""
    out, off = [], 0
    while off + 16 <= len(blob):
        magic, _version, hsize, fsize = struct.unpack_from("<IHHQ", blob, off)
        if magic != FATBIN_MAGIC:
            break
        e, end = off + hsize, off + hsize + fsize
        while e < end:
            kind, _flags, ehsize, size = struct.unpack_from("<HHIQ", blob, e)
            arch = struct.unpack_from("<I", blob, e + 28)[0]
            out.append((kind, arch, blob[e + ehsize : e + ehsize + size]))
            e += ehsize + size
        off = (end + 7) & ~7
    return out


@pytest.fixture(scope="module")
def cuda_fatbin(native_libs):
    if not _have_nvcc():
        pytest.skip("nvcc not found: the CUDA kernel core is not built on this machine")
    lib = native_libs.cuda_core
    assert lib.is_file(), f"nvcc is installed but {lib} was not built; see {native_libs.build_dir / 'build.log'}"
    objs = {n: b for n, b in ar_members(lib).items() if n.endswith(".o")}
    assert objs, f"{lib} holds no objects"
    entries = []
    for data in objs.values():
        sec = elf_section(data, ".nv_fatbin")
        if sec:
            entries += fatbin_entries(sec)
    assert entries, "no CUDA fat binary in natx_core_cuda"
    return entries


def test_cubins_for_every_arch(cuda_fatbin):
    cubin_archs = {arch for kind, arch, _ in cuda_fatbin if kind == KIND_CUBIN}
    assert cubin_archs == EXPECTED_ARCHS, f"SASS built for sm_{sorted(cubin_archs)}, expected {sorted(EXPECTED_ARCHS)}"


def test_ptx_for_forward_compatibility(cuda_fatbin):
    """PTX rides along, so newer GPUs (sm_100, sm_120) can JIT the kernel."""
    ptx_archs = {arch for kind, arch, _ in cuda_fatbin if kind == KIND_PTX}
    assert ptx_archs == {max(EXPECTED_ARCHS)}, f"PTX for sm_{sorted(ptx_archs)}"


def test_kernel_in_every_cubin(cuda_fatbin):
    """Every cubin carries the scalar kernel for all three dtypes and the tensor-core
    kernel for float16 and bfloat16 (names are mangled)."""
    for kind, arch, payload in cuda_fatbin:
        if kind != KIND_CUBIN or not payload.startswith(b"\x7fELF"):
            continue  # compressed payloads cannot be searched
        for dtype in (b"I6__half", b"I13__nv_bfloat16"):
            # head dims 16, 32, 64, 128
            names = set(re.findall(rb"na2d_tc_kernel" + dtype + rb"Li\d+E", payload))
            assert len(names) == 4, f"sm_{arch} cubin has {len(names)} {dtype.decode()} tensor-core kernels, expected 4"
        for dtype in (b"If", b"I6__half", b"I13__nv_bfloat16"):
            # 5 head-dim variants per dtype (D <= 8, 16, 32, 64, 128)
            names = set(re.findall(rb"na2d_fused_kernel" + dtype + rb"Li\d+ELi\d+E", payload))
            assert len(names) == 5, f"sm_{arch} cubin has {len(names)} {dtype.decode()} kernels, expected 5"


# ------------------------------------------------------------------ the kernel, emulated on the CPU

_VP = ctypes.c_void_p
MODES = {"global": 0, "smem": 1, "tc": 2}  # scalar kernel, global / shared memory; tensor-core kernel
TOL = {0: 1e-5, 1: 4e-3, 2: 3e-2}  # float32, float16, bfloat16: max abs err vs float64 on rounded inputs


def _to_bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def _from_bf16(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


_CONVERT = {  # dtype code -> (to device representation, back to float64, poison value)
    0: (lambda x: np.ascontiguousarray(x, np.float32), lambda x: x.astype(np.float64), np.float32("nan")),
    1: (lambda x: np.ascontiguousarray(x, np.float16), lambda x: x.astype(np.float64), np.float16("nan")),
    2: (_to_bf16, lambda x: _from_bf16(x).astype(np.float64), np.uint16(0x7FC0)),
}


@pytest.fixture(scope="module")
def cuda_emu(native_libs):
    if not _have_nvcc():
        pytest.skip("nvcc not found: the CUDA kernel core (and its CPU emulation) is not built on this machine")
    path = native_libs.build_dir / "libnatx_cuda_emu.so"
    assert path.is_file(), f"{path} was not built"
    fn = ctypes.CDLL(str(path)).natx_na2d_forward_cuda_emu
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.c_int] * 9 + [ctypes.c_float, ctypes.c_int, _VP, _VP, _VP, ctypes.c_int]

    def run(qkv, rpb, heads, kernel_size, dilation, scale, dtype, mode):
        """Returns (out, qkv, rpb) as float64, the inputs as rounded to dtype."""
        to_dev, back, poison = _CONVERT[dtype]
        B, H, W, C3 = qkv.shape
        D = C3 // (3 * heads)
        q = to_dev(qkv)
        r = None if rpb is None else to_dev(rpb)
        out = np.full((B, H, W, heads * D), poison)
        err = fn(
            B,
            H,
            W,
            heads,
            D,
            *kernel_size,
            *dilation,
            scale,
            dtype,
            q.ctypes.data,
            None if r is None else r.ctypes.data,
            out.ctypes.data,
            MODES[mode],
        )
        if err:
            raise ValueError(err.decode())
        return back(out), back(q), None if r is None else back(r)

    return run


@pytest.mark.parametrize("mode", ["smem", "global"])
def test_emulated_kernel_matches_natten(cuda_emu, na_ref, natten_case, mode):
    m, q, k, v, rpb, ref = natten_case
    K, d = m["kernel_size"], m["dilation"]
    out, _, _ = cuda_emu(na_ref.pack_qkv(q, k, v), rpb, m["heads"], (K, K), (d, d), m["scale"], 0, mode)
    assert np.isfinite(out).all()
    assert np.abs(out - ref).max() <= 1e-5


EMU_RANDOM = [
    # B, H, W, heads, D, (Kh, Kw), (dh, dw), rpb       -- one per kernel variant (G, DC)
    (2, 9, 13, 2, 8, (3, 5), (1, 1), True),  # D <= 8:   G 1
    (1, 10, 7, 3, 5, (3, 3), (3, 2), True),  # odd D, H % d != 0
    (1, 23, 17, 2, 12, (5, 3), (4, 5), False),  # D <= 16:  G 1, no rpb
    (1, 19, 18, 2, 32, (7, 7), (1, 1), True),  # D <= 32:  G 2, several tiles
    (1, 20, 24, 1, 48, (5, 5), (2, 3), True),  # D <= 64:  G 4, partial group
    (1, 12, 13, 1, 100, (5, 3), (1, 2), True),  # D <= 128: G 8
]


@pytest.mark.parametrize("dtype", [0, 1, 2], ids=["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", EMU_RANDOM, ids=[f"case{i}" for i in range(len(EMU_RANDOM))])
def test_emulated_kernel_random(cuda_emu, na_ref, shape, dtype):
    B, H, W, heads, D, K, d, has_rpb = shape
    rng = np.random.default_rng(200 + EMU_RANDOM.index(shape))
    q, k, v, rpb = na_ref.random_case(rng, B, H, W, heads, D, K, d, has_rpb)
    for mode in ("smem", "global") if dtype == 0 else ("smem",):
        out, qkv_r, rpb_r = cuda_emu(na_ref.pack_qkv(q, k, v), rpb, heads, K, d, D**-0.5, dtype, mode)
        qr, kr, vr = np.moveaxis(qkv_r.reshape(B, H, W, 3, heads, D), 3, 0)
        ref = na_ref.reference(qr, kr, vr, K, d, D**-0.5, rpb_r)
        assert np.isfinite(out).all()
        assert np.abs(out - ref).max() <= TOL[dtype], f"path {mode}"


TC_CASES = [
    # B, H, W, heads, D, (Kh, Kw), (dh, dw), rpb       -- tensor-core kernel: D in {16, 32, 64, 128}
    (2, 9, 13, 2, 16, (3, 5), (1, 1), True),
    (1, 10, 7, 3, 32, (3, 3), (3, 2), True),  # H % d != 0
    (1, 23, 17, 2, 32, (5, 3), (4, 5), False),  # no rpb
    (1, 19, 18, 2, 32, (7, 7), (1, 1), True),  # NAT-like, partial tiles
    (1, 20, 24, 1, 64, (5, 5), (2, 3), True),
    (1, 12, 12, 1, 128, (5, 5), (1, 1), True),
    (1, 26, 26, 1, 16, (13, 13), (2, 2), True),  # K 13: 400-pixel halo, 25 chunks
]


@pytest.mark.parametrize("dtype", [1, 2], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("shape", TC_CASES, ids=[f"case{i}" for i in range(len(TC_CASES))])
def test_emulated_tensor_core_kernel(cuda_emu, na_ref, shape, dtype):
    B, H, W, heads, D, K, d, has_rpb = shape
    rng = np.random.default_rng(300 + TC_CASES.index(shape))
    q, k, v, rpb = na_ref.random_case(rng, B, H, W, heads, D, K, d, has_rpb)
    out, qkv_r, rpb_r = cuda_emu(na_ref.pack_qkv(q, k, v), rpb, heads, K, d, D**-0.5, dtype, "tc")
    qr, kr, vr = np.moveaxis(qkv_r.reshape(B, H, W, 3, heads, D), 3, 0)
    ref = na_ref.reference(qr, kr, vr, K, d, D**-0.5, rpb_r)
    assert np.isfinite(out).all()
    assert np.abs(out - ref).max() <= TOL[dtype]


def test_emulated_tensor_core_kernel_on_natten_case(cuda_emu, na_ref):
    """The fp32 golden case with D 32 and dilation 4, through the float16 tensor-core kernel."""
    m, q, k, v, rpb, ref = na_ref.natten_cases()[6]
    assert (m["D"], m["dilation"]) == (32, 4)
    out, _, _ = cuda_emu(na_ref.pack_qkv(q, k, v), rpb, m["heads"], (7, 7), (4, 4), m["scale"], 1, "tc")
    assert np.abs(out - ref).max() <= TOL[1]


def _neg_inf_rpb(rng, heads, K):
    """A bias with -inf on a checkerboard (r + c even): every window keeps finite logits, and
    the first logit of each interior window (bias index (K//2, K//2), r + c even) is -inf, the
    case that made the scalar kernel return NaN (exp2(-inf - -inf))."""
    Kh, Kw = K
    rpb = rng.standard_normal((heads, 2 * Kh - 1, 2 * Kw - 1))
    r, c = np.indices(rpb.shape[1:])
    rpb[:, (r + c) % 2 == 0] = -np.inf
    return rpb


NEG_INF_CASES = [
    # B, H, W, heads, D, (Kh, Kw), (dh, dw)   -- scalar variants G 1 / 2 / 8, and the tensor-core D
    (1, 9, 9, 2, 8, (3, 3), (1, 1)),
    (1, 11, 10, 2, 32, (5, 3), (2, 1)),
    (1, 9, 9, 1, 100, (3, 5), (1, 1)),
    (1, 10, 9, 1, 16, (5, 5), (1, 1)),
]


@pytest.mark.parametrize(
    ("dtype", "mode"),
    [(0, "smem"), (0, "global"), (1, "smem"), (1, "global"), (2, "smem"), (2, "global"), (1, "tc"), (2, "tc")],
    ids=["f32-smem", "f32-global", "f16-smem", "f16-global", "bf16-smem", "bf16-global", "f16-tc", "bf16-tc"],
)
@pytest.mark.parametrize("shape", NEG_INF_CASES, ids=[f"case{i}" for i in range(len(NEG_INF_CASES))])
def test_emulated_kernel_neg_inf_bias(cuda_emu, na_ref, shape, dtype, mode):
    """-inf logits (a masking bias) give weight 0 on every path and dtype, never NaN."""
    B, H, W, heads, D, K, d = shape
    if mode == "tc" and D not in (16, 32, 64, 128):
        pytest.skip("the tensor-core kernel takes D 16, 32, 64, 128")
    rng = np.random.default_rng(400 + NEG_INF_CASES.index(shape))
    q, k, v, _ = na_ref.random_case(rng, B, H, W, heads, D, K, d, False)
    rpb = _neg_inf_rpb(rng, heads, K)
    out, qkv_r, rpb_r = cuda_emu(na_ref.pack_qkv(q, k, v), rpb, heads, K, d, D**-0.5, dtype, mode)
    assert np.isneginf(rpb_r).sum() == np.isneginf(rpb).sum(), "-inf lost in the conversion"
    qr, kr, vr = np.moveaxis(qkv_r.reshape(B, H, W, 3, heads, D), 3, 0)
    ref = na_ref.reference(qr, kr, vr, K, d, D**-0.5, rpb_r)
    assert np.isfinite(ref).all()
    bad = ~np.isfinite(out)
    assert not bad.any(), f"{bad.any(-1).sum()} of {H * W * B} pixels not finite on path {mode}"
    assert np.abs(out - ref).max() <= TOL[dtype], f"path {mode}"


def test_emulated_kernel_refuses_bad_params(cuda_emu):
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        cuda_emu(np.zeros((1, 9, 9, 24)), None, 2, (4, 3), (1, 1), 0.5, 0, "smem")
    with pytest.raises(ValueError, match="head dim must be <= 128"):
        cuda_emu(np.zeros((1, 9, 9, 3 * 136)), None, 1, (3, 3), (1, 1), 0.5, 0, "smem")
    with pytest.raises(ValueError, match="head dim 16, 32, 64 or 128"):
        cuda_emu(np.zeros((1, 9, 9, 3 * 24)), None, 1, (3, 3), (1, 1), 0.5, 1, "tc")


# ------------------------------------------------------------------ the host launcher, no GPU needed

CUDA_ERROR_INVALID_VALUE = 1


@pytest.fixture(scope="module")
def cuda_launcher(native_libs):
    if not _have_nvcc():
        pytest.skip("nvcc not found: the CUDA kernel core is not built on this machine")
    lib = ctypes.CDLL(str(native_libs.build_dir / "libnatx_cuda_capi.so"))
    fn = lib.natx_na2d_forward_cuda_status
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int] * 9 + [ctypes.c_float, ctypes.c_int, _VP, _VP, _VP]
    lib.natx_cuda_error_name.restype = ctypes.c_char_p
    lib.natx_cuda_error_name.argtypes = [ctypes.c_int]
    return fn, lambda e: lib.natx_cuda_error_name(e).decode()


FAKE = ctypes.c_void_p(4096)  # never dereferenced: validation fails (or no device is found) first


@pytest.mark.parametrize(
    "args",
    [
        (1, 9, 9, 2, 8, 4, 3, 1, 1, 0.5, 0),  # even kernel
        (1, 9, 9, 2, 8, 5, 5, 2, 1, 0.5, 0),  # H < K*d
        (1, 9, 5, 2, 8, 3, 3, 1, 2, 0.5, 1),  # W < K*d
        (1, 16, 16, 1, 136, 3, 3, 1, 1, 0.5, 2),  # D > 128
        (1, 9, 9, 2, 8, 3, 3, 0, 1, 0.5, 0),  # dilation 0
        (1, 9, 9, 2, 8, 3, 3, 1, 1, float("nan"), 0),
        (1, 9, 9, 2, 8, 3, 3, 1, 1, 0.0, 0),  # scale must be > 0
        (1, 9, 9, 0, 8, 3, 3, 1, 1, 0.5, 0),  # no heads
        (1, 9, 9, 2, 8, 3, 3, 1, 1, 0.5, 7),  # unknown dtype
    ],
    ids=["even-kernel", "H<K*d", "W<K*d", "D>128", "dilation0", "nan-scale", "zero-scale", "heads0", "dtype"],
)
def test_launcher_refuses_invalid_params(cuda_launcher, args):
    fn, name = cuda_launcher
    err = fn(*args, FAKE, None, FAKE)
    assert err == CUDA_ERROR_INVALID_VALUE, name(err)


def test_launcher_null_pointers_refused(cuda_launcher):
    fn, _ = cuda_launcher
    assert fn(1, 9, 9, 2, 8, 3, 3, 1, 1, 0.5, 0, None, None, FAKE) == CUDA_ERROR_INVALID_VALUE
    assert fn(1, 9, 9, 2, 8, 3, 3, 1, 1, 0.5, 0, FAKE, None, None) == CUDA_ERROR_INVALID_VALUE


def test_launcher_empty_batch_is_a_no_op(cuda_launcher):
    fn, _ = cuda_launcher
    assert fn(0, 9, 9, 2, 8, 3, 3, 1, 1, 0.5, 0, None, None, None) == 0


def test_launcher_without_gpu_returns_an_error(cuda_launcher):
    """Valid parameters on a machine without a usable GPU: a CUDA error code, no crash."""
    fn, name = cuda_launcher
    if Path("/dev/nvidia0").exists():
        pytest.skip("a GPU may be present: scripts/gpu_check.py covers this machine")
    err = fn(1, 9, 9, 2, 8, 3, 3, 1, 1, 0.5, 0, FAKE, None, FAKE)
    assert err != 0, "launched without a GPU?"
    assert name(err).startswith("cuda")


# ------------------------------------------------------------------ the launcher's path choice, no GPU needed

PATH_AUTO, PATH_SCALAR, PATH_GLOBAL, PATH_TC = 0, 1, 2, 3
NA_PATH_NOT_APPLICABLE = 0x4E41
SM75, SM80, SM90 = (7, 65536), (8, 166912), (9, 232448)  # cc major, opt-in shared memory per block


@pytest.fixture(scope="module")
def choose_path(native_libs):
    if not _have_nvcc():
        pytest.skip("nvcc not found: the CUDA kernel core is not built on this machine")
    fn = ctypes.CDLL(str(native_libs.build_dir / "libnatx_cuda_capi.so")).natx_na_choose_path
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int] * 18 + [ctypes.POINTER(ctypes.c_char_p)]

    def run(D, K, dtype, requested, dev, aligned=True, d=1, H=56, B=1, heads=2, sm_count=0, occ=(0, 0)):
        """occ: (tensor-core, scalar) blocks per SM as the occupancy API measures them; (0, 0): unknown."""
        why = ctypes.c_char_p()
        args = (B, H, H, heads, D, K, K, d, d, dtype, 1, requested, dev[0], dev[1], sm_count, *occ, int(aligned))
        path = fn(*args, ctypes.byref(why))
        return path, (why.value or b"").decode()

    return run


@pytest.mark.parametrize(
    ("D", "K", "dtype", "requested", "dev", "aligned", "expected"),
    [
        (32, 7, 1, PATH_AUTO, SM80, True, PATH_TC),  # NAT layer, float16: tensor cores
        (32, 7, 2, PATH_AUTO, SM90, True, PATH_TC),
        (32, 7, 1, PATH_AUTO, SM80, False, PATH_SCALAR),  # misaligned view: 16-byte staging impossible
        (32, 7, 2, PATH_AUTO, SM75, True, PATH_SCALAR),  # bfloat16 WMMA needs sm_80
        (32, 13, 1, PATH_AUTO, SM75, True, PATH_SCALAR),  # K 13: tensor-core smem does not fit sm_75
        (48, 7, 1, PATH_AUTO, SM80, True, PATH_SCALAR),  # D 48: no tensor-core variant
        (32, 7, 0, PATH_AUTO, SM90, True, PATH_SCALAR),  # float32: scalar, halo in shared memory
        (128, 13, 0, PATH_AUTO, SM75, True, PATH_GLOBAL),  # float32 D 128 K 13: halo does not fit
        (32, 7, 1, PATH_SCALAR, SM80, True, PATH_SCALAR),
        (32, 7, 1, PATH_GLOBAL, SM80, True, PATH_GLOBAL),
        (32, 7, 1, PATH_TC, SM80, True, PATH_TC),
    ],
)
def test_launcher_path_choice(choose_path, D, K, dtype, requested, dev, aligned, expected):
    path, why = choose_path(D, K, dtype, requested, dev, aligned)
    assert path == expected, why
    assert why == ""


@pytest.mark.parametrize(
    ("D", "dtype", "dev", "aligned", "why"),
    [
        (32, 0, SM90, True, "float32 has no tensor-core path"),
        (48, 1, SM90, True, "head dim 16, 32, 64 or 128"),
        (32, 2, SM75, True, "bfloat16 tensor cores need sm_80"),
        (32, 1, SM80, False, "not 16-byte aligned"),
    ],
)
def test_forced_tensor_core_path_not_applicable(choose_path, D, dtype, dev, aligned, why):
    path, reason = choose_path(D, 7, dtype, PATH_TC, dev, aligned)
    assert path == PATH_AUTO and why in reason


def test_launcher_forced_path_status_is_distinct(native_libs, cuda_launcher):
    """A forced tensor-core launch that can apply on no device returns natx's own status (not a
    CUDA error code such as cudaErrorNotSupported, which a real failure could also give), before
    CUDA is touched."""
    lib = ctypes.CDLL(str(native_libs.build_dir / "libnatx_cuda_capi.so"))
    fn = lib.natx_na2d_forward_cuda_path
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int] * 9 + [ctypes.c_float, ctypes.c_int, _VP, _VP, _VP, ctypes.c_int]
    lib.natx_cuda_status_name.restype = ctypes.c_char_p
    err = fn(1, 9, 9, 2, 32, 3, 3, 1, 1, 0.5, 0, FAKE, None, FAKE, PATH_TC)
    assert err == NA_PATH_NOT_APPLICABLE
    assert lib.natx_cuda_status_name(err) == b"natxPathNotApplicable"
    # A path that applies goes on to the ordinary checks (here: null pointers refused).
    assert fn(1, 9, 9, 2, 32, 3, 3, 1, 1, 0.5, 0, None, None, None, PATH_GLOBAL) == CUDA_ERROR_INVALID_VALUE


@pytest.mark.parametrize(
    ("K", "D", "expected"),
    [
        (7, 32, 45312),  # every NAT / DiNAT layer: under 48 KB (was 50,432 before the q rows were aliased)
        (7, 16, 27904),
        (13, 32, 77824),  # K 13: still above sm_75's 64 KB
        (7, 128, 149760),
        (7, 48, 0),  # no tensor-core variant
    ],
)
def test_tensor_core_shared_memory(native_libs, K, D, expected):
    """The tensor-core kernel's shared memory (what limits its blocks per SM): each warp's staged q rows
    live in its float scratch, so the per-tile q buffer (64 rows) is gone."""
    if not _have_nvcc():
        pytest.skip("nvcc not found: the CUDA kernel core is not built on this machine")
    fn = ctypes.CDLL(str(native_libs.build_dir / "libnatx_cuda_capi.so")).natx_cuda_tc_smem_bytes
    fn.restype = ctypes.c_longlong
    fn.argtypes = [ctypes.c_int] * 3
    assert fn(K, K, D) == expected


# ------------------------------------------------------------------ the occupancy rule, no GPU needed

# Described devices: cc major, opt-in shared memory per block, SMs, shared memory per SM, reserved per block.
T4 = {"cc": (7, 65536), "sms": 40, "smem_sm": 65536, "reserved": 0}  # sm_75
A10 = {"cc": (8, 101376), "sms": 72, "smem_sm": 102400, "reserved": 1024}  # sm_86 (L40 / L4 sm_89 alike)
L4 = {"cc": (8, 101376), "sms": 58, "smem_sm": 102400, "reserved": 1024}  # sm_89
A100 = {"cc": (8, 166912), "sms": 108, "smem_sm": 167936, "reserved": 1024}  # sm_80
H100 = {"cc": (9, 232448), "sms": 132, "smem_sm": 233472, "reserved": 1024}  # sm_90


@pytest.fixture(scope="module")
def capi(native_libs):
    if not _have_nvcc():
        pytest.skip("nvcc not found: the CUDA kernel core is not built on this machine")
    lib = ctypes.CDLL(str(native_libs.build_dir / "libnatx_cuda_capi.so"))
    lib.natx_na_occupancy_rule.restype = ctypes.c_int
    lib.natx_na_occupancy_rule.argtypes = [ctypes.c_int] * 12 + [ctypes.POINTER(ctypes.c_longlong)]
    lib.natx_cuda_launch_shape.restype = ctypes.c_int
    lib.natx_cuda_launch_shape.argtypes = [ctypes.c_int] * 5 + [ctypes.POINTER(ctypes.c_longlong)]
    lib.natx_na_plan_summary.restype = ctypes.c_char_p
    lib.natx_na_plan_summary.argtypes = [ctypes.c_int] * 14
    return lib


def _launch_shape(capi, K, D, dtype, path):
    smem = ctypes.c_longlong()
    threads = capi.natx_cuda_launch_shape(K, K, D, dtype, path, ctypes.byref(smem))
    return threads, smem.value


def _smem_blocks(capi, dev, K, D, dtype, path):
    """Blocks per SM as shared memory allows them (what limits these kernels; registers are the GPU's to say)."""
    _, smem = _launch_shape(capi, K, D, dtype, path)
    return dev["smem_sm"] // (smem + dev["reserved"])


def test_launch_shape(capi):
    """What each path launches: the tensor-core kernel 128 threads and its layout's shared memory; the scalar
    kernel 64*G threads, its halo in shared memory (kScalar) or none (kScalarGlobal)."""
    assert _launch_shape(capi, 7, 32, 1, PATH_TC) == (128, 45312)
    assert _launch_shape(capi, 7, 32, 0, PATH_TC) == (0, 0)  # float32: no tensor-core kernel
    assert _launch_shape(capi, 7, 48, 1, PATH_TC) == (0, 0)
    assert _launch_shape(capi, 7, 32, 1, PATH_SCALAR) == (128, 2 * 14 * 14 * 34 * 2)  # stride 34 halves
    assert _launch_shape(capi, 7, 32, 0, PATH_SCALAR) == (128, 2 * 14 * 14 * 33 * 4)
    assert _launch_shape(capi, 7, 16, 1, PATH_GLOBAL) == (64, 0)
    assert _launch_shape(capi, 7, 128, 2, PATH_GLOBAL) == (512, 0)
    assert _launch_shape(capi, 7, 32, 1, PATH_AUTO) == (0, 0)


def test_described_occupancy_of_nat_layers(capi):
    """K 7, D 32 float16 (every NAT / DiNAT layer) by shared memory: one tensor-core block per SM on sm_75,
    two on sm_86 / sm_89 (since the q rows were aliased), more on sm_80 / sm_90; the scalar kernel more."""
    tc = {n: _smem_blocks(capi, d, 7, 32, 1, PATH_TC) for n, d in [("T4", T4), ("A10", A10), ("A100", A100)]}
    tc["H100"] = _smem_blocks(capi, H100, 7, 32, 1, PATH_TC)
    assert tc == {"T4": 1, "A10": 2, "A100": 3, "H100": 5}
    assert _smem_blocks(capi, T4, 7, 32, 1, PATH_SCALAR) == 2
    assert _smem_blocks(capi, A10, 7, 32, 1, PATH_SCALAR) == 3


def _rule(capi, B, H, heads, D, K, dev, tc, scalar, d=1):
    out = (ctypes.c_longlong * 5)()
    prefers = capi.natx_na_occupancy_rule(B, H, H, heads, D, K, K, d, d, dev["sms"], tc, scalar, out)
    known, tc_warps, scalar_warps, grid, fill = out
    return bool(prefers), {"known": bool(known), "tc": tc_warps, "scalar": scalar_warps, "grid": grid, "fill": fill}


@pytest.mark.parametrize(
    ("case", "B", "H", "heads", "D", "K", "dev", "occ", "scalar", "numbers"),
    [
        # NAT level 1 (56x56, 2 heads, D 32, K 7), batch 32 on a T4: the tensor-core kernel at 1 block (4 warps),
        # the scalar kernel at 2 (8 warps), 3136 blocks fill 40 SMs at 2 each many times over: scalar.
        ("T4 NAT-L1 B32", 32, 56, 2, 32, 7, T4, (1, 2), True, (4, 8, 3136, 80)),
        # ... batch 1, last level (7x7, 16 heads): 16 blocks cannot fill 80 slots: the tensor-core kernel.
        ("T4 NAT-L4 B1", 1, 7, 16, 32, 7, T4, (1, 2), False, (4, 8, 16, 80)),
        # sm_86 / sm_89: 2 tensor-core blocks = 8 warps, not below the threshold: tensor cores even if the scalar
        # kernel keeps 12.
        ("A10 NAT-L1 B32", 32, 56, 2, 32, 7, A10, (2, 3), False, (8, 12, 3136, 216)),
        # K 13 on sm_86: 1 tensor-core block (4 warps) but the scalar kernel's 54 KB halo also 1 (4 warps).
        ("A10 K13", 32, 28, 4, 32, 13, A10, (1, 1), False, (4, 4, 2048, 72)),
        # L4, D 64 K 13: tensor cores 1 block, the scalar kernel (8 warps per block) 1 block = 8 warps: 2x, fills.
        ("L4 D64 K13", 8, 28, 4, 64, 13, L4, (1, 1), True, (4, 8, 512, 58)),
        # D 16: a scalar block is 2 warps; 3 blocks = 6 warps, not 2x the tensor-core kernel's 4: tensor cores.
        ("T4 D16 6 warps", 32, 56, 4, 16, 7, T4, (1, 3), False, (4, 6, 6272, 120)),
        # A100 (3 blocks = 12 warps) and H100 (5 blocks = 20 warps): tensor cores whatever the scalar kernel does.
        ("A100 NAT-L1", 32, 56, 2, 32, 7, A100, (3, 7), False, (12, 28, 3136, 756)),
        ("H100 NAT-L1", 128, 56, 2, 32, 7, H100, (5, 14), False, (20, 56, 12544, 1848)),
        # Not measured (no GPU, or a forced path): tensor cores, as before the rule.
        ("unknown", 32, 56, 2, 32, 7, T4, (0, 0), False, (0, 0, 3136, 0)),
        ("tc unknown", 32, 56, 2, 32, 7, T4, (0, 2), False, (0, 8, 3136, 80)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_occupancy_rule(capi, case, B, H, heads, D, K, dev, occ, scalar, numbers):
    prefers, got = _rule(capi, B, H, heads, D, K, dev, *occ)
    assert prefers == scalar, (case, got)
    assert (got["tc"], got["scalar"], got["grid"], got["fill"]) == numbers
    assert got["known"] == (occ[0] > 0 and occ[1] > 0)


def test_occupancy_rule_thresholds(native_libs, capi):
    """The documented thresholds (docs/native.md): fewer than 8 resident tensor-core warps per SM, the scalar
    kernel at least 2x as many, the grid filling the GPU at the scalar kernel's occupancy; each edge."""
    th = (ctypes.c_int * 2)()
    capi.natx_na_occupancy_thresholds(th)
    assert list(th) == [8, 2]
    # D 128: a scalar block is 16 warps, a tensor-core block 4.
    assert _rule(capi, 8, 28, 2, 128, 7, T4, 1, 1)[0]  # 4 < 8, 16 >= 8, 128 blocks >= 40
    assert not _rule(capi, 8, 28, 2, 128, 7, T4, 2, 1)[0]  # 8 warps: not below the threshold
    assert not _rule(capi, 1, 28, 2, 128, 7, {**T4, "sms": 40}, 1, 1)[0]  # 32 blocks < 40
    assert _rule(capi, 1, 28, 2, 128, 7, {**T4, "sms": 32}, 1, 1)[0]  # 32 blocks == 32: fills
    assert not _rule(capi, 32, 56, 2, 32, 7, {**T4, "sms": 0}, 1, 2)[0]  # SM count unknown
    # Dilation: one block per (tile, dilation group); 56x56 d 8 -> 7x7 groups of 7x7, one tile each.
    assert _rule(capi, 1, 56, 2, 32, 7, T4, 1, 2, d=8)[1]["grid"] == 64 * 2


@pytest.mark.parametrize(
    ("B", "H", "heads", "D", "K", "dtype", "requested", "dev", "aligned", "occ", "expected"),
    [
        (32, 56, 2, 32, 7, 1, PATH_AUTO, T4, True, (1, 2), PATH_SCALAR),  # the rule: scalar, halo in smem
        (32, 56, 2, 32, 7, 1, PATH_AUTO, T4, True, (0, 0), PATH_TC),  # occupancy unknown: tensor cores
        (1, 7, 16, 32, 7, 1, PATH_AUTO, T4, True, (1, 2), PATH_TC),  # grid too small to gain
        (32, 56, 2, 32, 7, 1, PATH_AUTO, A10, True, (2, 3), PATH_TC),
        (32, 56, 2, 32, 7, 2, PATH_AUTO, H100, True, (5, 14), PATH_TC),
        (32, 56, 2, 32, 7, 1, PATH_TC, T4, True, (1, 2), PATH_TC),  # a forced path ignores the rule
        (32, 56, 2, 32, 7, 1, PATH_SCALAR, A10, True, (2, 3), PATH_SCALAR),
        (32, 56, 2, 32, 7, 1, PATH_AUTO, T4, False, (1, 2), PATH_SCALAR),  # misaligned: scalar anyway
        (32, 56, 2, 32, 7, 2, PATH_AUTO, T4, True, (0, 0), PATH_SCALAR),  # bfloat16 on sm_75: no tensor cores
        (4, 40, 1, 128, 13, 0, PATH_AUTO, T4, True, (1, 1), PATH_GLOBAL),  # float32: the rule does not apply
    ],
)
def test_launcher_path_choice_with_occupancy(
    choose_path, B, H, heads, D, K, dtype, requested, dev, aligned, occ, expected
):
    """na_choose_path with the occupancy the plan measured, for described devices: the rule only ever moves
    kAuto from an applicable tensor-core kernel to the scalar kernel."""
    path, why = choose_path(
        D, K, dtype, requested, dev["cc"], aligned, H=H, B=B, heads=heads, sm_count=dev["sms"], occ=occ
    )
    assert path == expected, why
    assert why == ""


def test_plan_summary(capi):
    """The line the TensorRT plugin logs (verbose) per planned shape: path, occupancy, rule."""
    s = capi.natx_na_plan_summary(32, 56, 56, 2, 32, 7, 7, 1, 1, PATH_SCALAR, PATH_AUTO, 40, 1, 2).decode()
    assert s.startswith("scalar (occupancy rule: tensor-core 4 warps/SM (1 block), scalar 8 warps/SM (2 blocks)")
    assert "3136 blocks, 80 fill the GPU" in s
    s = capi.natx_na_plan_summary(32, 56, 56, 2, 32, 7, 7, 1, 1, PATH_TC, PATH_AUTO, 0, 0, 0).decode()
    assert s == "tensor-core (occupancy not measured)"
    s = capi.natx_na_plan_summary(32, 56, 56, 2, 32, 7, 7, 1, 1, PATH_GLOBAL, PATH_GLOBAL, 40, 0, 0).decode()
    assert s == "scalar-global (requested)"
    s = capi.natx_na_plan_summary(32, 56, 56, 2, 48, 7, 7, 1, 1, PATH_SCALAR, PATH_AUTO, 40, 0, 0).decode()
    assert s == "scalar (the tensor-core kernel does not apply)"
