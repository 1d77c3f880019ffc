"""nvcc compiles the CUDA kernel core for every default architecture (sm_75..sm_90).

No GPU is needed: the static library natx_core_cuda built by the session build is
opened and the CUDA fat binary in its object is listed (a small reader of the ELF
section `.nv_fatbin`, so that cuobjdump is not needed either)."""
from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest

EXPECTED_ARCHS = {75, 80, 86, 89, 90}
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
        hdr = data[off:off + 60]
        name = hdr[:16].decode().strip()
        size = int(hdr[48:58].decode().strip())
        body = data[off + 60:off + 60 + size]
        if name == "//":
            longnames = body
        elif name not in ("/", "/SYM64/"):
            if name.startswith("/") and name[1:].isdigit():
                start = int(name[1:])
                name = longnames[start:longnames.index(b"/\n", start)].decode()
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
        if data[start:data.index(b"\0", start)].decode() == wanted:
            return data[s[4]:s[4] + s[5]]
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
            out.append((kind, arch, blob[e + ehsize:e + ehsize + size]))
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
    assert max(EXPECTED_ARCHS) in ptx_archs


def test_kernel_in_every_cubin(cuda_fatbin):
    """Every cubin carries the fused kernel, for all three dtypes (names are mangled)."""
    for kind, arch, payload in cuda_fatbin:
        if kind != KIND_CUBIN or not payload.startswith(b"\x7fELF"):
            continue  # compressed payloads cannot be searched
        for dtype in (b"If", b"I6__half", b"I13__nv_bfloat16"):
            # 5 head-dim variants per dtype (D <= 8, 16, 32, 64, 128)
            names = set(re.findall(rb"na2d_fused_kernel" + dtype + rb"Li\d+ELi\d+E", payload))
            assert len(names) == 5, f"sm_{arch} cubin has {len(names)} {dtype.decode()} kernels, expected 5"
