"""Up-front memory estimates, so that a run that cannot fit is refused in one line before it starts.

The estimate is the peak of one forward pass of the PyTorch reference (the largest consumer: export
traces it, validation and ``bench --torch`` run it): at level 0 (stride 4, the most tokens) the block
holds its input, the normed input, qkv, the attention weights of a window per token and head, and the
MLP's hidden layer, and the keys and values gathered per window, with a factor of 2 for temporaries. ONNX Runtime and TensorRT need less; the
estimate is deliberately on the safe side, and ``--no-memory-check`` goes ahead anyway.
"""

from __future__ import annotations

import os

__all__ = ["MemoryCheckError", "available_bytes", "check_memory", "check_model_fits", "forward_bytes", "param_bytes"]

GIB = 1 << 30


class MemoryCheckError(RuntimeError):
    """The run would need more memory than the machine has; the message gives the estimate and the way on."""


def forward_bytes(config, batch: int, height: int, width: int, bytes_per_value: int = 4) -> int:
    """Estimated peak bytes of one forward pass of ``config`` on ``[batch, C, height, width]``."""
    tokens = max(1, -(-height // 4)) * max(1, -(-width // 4))
    width0 = config.embed_dim
    heads0 = config.num_heads[0]
    window = config.kernel_size**2
    # block input, normed input, qkv (3), output, MLP hidden; attention weights per head; keys and values
    # gathered per window by the eager reference (2 * window * width)
    per_token = width0 * (6 + config.mlp_ratio) + heads0 * window + 2 * window * width0
    return int(2 * batch * tokens * per_token * bytes_per_value + batch * config.in_chans * height * width * 4)


def param_bytes(config, bytes_per_value: int = 4) -> int:
    """Approximate bytes of the model's parameters: per layer qkv + projection + MLP (``(4 + 2 * mlp_ratio) C^2``)
    and the relative positional bias (``heads * (2K - 1)^2``), per level the 3x3 stride-2 downsampler (``18 C^2``)."""
    total = 0
    rpb = (2 * config.kernel_size - 1) ** 2
    for level, depth in enumerate(config.depths):
        c = config.embed_dim * 2**level
        total += depth * ((4 + 2 * config.mlp_ratio) * c * c + config.num_heads[level] * rpb) + 18 * c * c
    return int(total * bytes_per_value)


def check_model_fits(config) -> None:
    """Refuse to build a model whose parameters alone exceed the memory available (a config typo such as
    ``depths: [1, 1, 100000, 1]`` or ``embed_dim: 1000000``), before torch tries to allocate them.

    Raises:
        MemoryCheckError: with the estimate.
    """
    need = param_bytes(config)
    have = available_bytes()
    if have is not None and need > have:
        raise MemoryCheckError(
            f"the model's parameters alone need about {need / GIB:.1f} GiB and this machine has {have / GIB:.1f} GiB "
            "available; check depths / embed_dim / mlp_ratio / kernel_size in the config"
        )


def available_bytes() -> int | None:
    """Memory the machine can give now (``MemAvailable``), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(need: int, what: str, flag: str = "--no-memory-check", available: int | None = None) -> None:
    """Refuse ``what`` when ``need`` bytes exceed what is available.

    Raises:
        MemoryCheckError: with the estimate, what the machine has, and ``flag``.
    """
    have = available_bytes() if available is None else available
    if have is None or need <= have:
        return
    raise MemoryCheckError(
        f"{what} needs about {need / GIB:.1f} GiB of memory and this machine has {have / GIB:.1f} GiB available; "
        f"use a smaller resolution or batch, or pass {flag} to try anyway"
    )
