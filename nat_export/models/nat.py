"""NAT / DiNAT in PyTorch, computing exactly what HF transformers 4.40.2 computes.

Module and parameter names follow the original SHI-Labs code (fused ``attn.qkv``,
``gamma1``/``gamma2``), so its ``.pth`` files load as they are; HF checkpoints are converted
by :mod:`nat_export.models.loading`. Every NA layer is one call of the fused-qkv custom op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import na2d_qkv
from .config import NatConfig


class ConvTokenizer(nn.Module):
    """Two stride-2 3x3 convolutions (no activation between them), then LayerNorm: NCHW -> NHWC."""

    def __init__(self, in_chans: int, dim: int, eps: float):
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_chans, dim // 2, 3, stride=2, padding=1),
            nn.Conv2d(dim // 2, dim, 3, stride=2, padding=1),
        )
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x):
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class ConvDownsampler(nn.Module):
    """Stride-2 3x3 convolution doubling the channels, then LayerNorm (NHWC in and out)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.reduction = nn.Conv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False)
        self.norm = nn.LayerNorm(2 * dim, eps=eps)

    def forward(self, x):
        return self.norm(self.reduction(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class NeighborhoodAttention2D(nn.Module):
    """Fused qkv projection -> NA op (with relative positional bias) -> output projection."""

    def __init__(self, dim: int, num_heads: int, kernel_size: int, dilation: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.rpb = nn.Parameter(torch.zeros(num_heads, 2 * kernel_size - 1, 2 * kernel_size - 1))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # [B, H, W, C]
        out = na2d_qkv(self.qkv(x), self.num_heads, self.kernel_size, self.dilation, self.rpb, self.scale)
        return self.proj(out)


class NATLayer(nn.Module):
    def __init__(self, dim: int, num_heads: int, kernel_size: int, dilation: int, cfg: NatConfig):
        super().__init__()
        self.window = kernel_size * dilation
        self.norm1 = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        self.attn = NeighborhoodAttention2D(dim, num_heads, kernel_size, dilation, cfg.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio))
        if cfg.layer_scale is not None:
            self.gamma1 = nn.Parameter(cfg.layer_scale * torch.ones(dim))
            self.gamma2 = nn.Parameter(cfg.layer_scale * torch.ones(dim))
        else:
            self.gamma1 = self.gamma2 = None

    def _attention(self, x):
        # Maps smaller than kernel*dilation are zero-padded right/bottom after the norm and cropped after
        # attention, as HF and natten do; the NA op itself never pads. With symbolic sizes (export with
        # --dynamic-resolution) the padding is computed at run time and is zero when the map is large enough.
        height, width = x.shape[1], x.shape[2]
        if isinstance(height, int) and isinstance(width, int):
            pad_h, pad_w = max(0, self.window - height), max(0, self.window - width)
            if not (pad_h or pad_w):
                return self.attn(x)
            return self.attn(F.pad(x, (0, 0, 0, pad_w, 0, pad_h)))[:, :height, :width, :].contiguous()
        pad_h = torch.sym_max(self.window, height) - height
        pad_w = torch.sym_max(self.window, width) - width
        x = self.attn(F.pad(x, (0, 0, 0, pad_w, 0, pad_h)))
        # index_select rather than slicing: a fresh tensor, so the exporter adds no guards on strides
        x = x.index_select(1, torch.arange(height, device=x.device))
        return x.index_select(2, torch.arange(width, device=x.device))

    def forward(self, x):
        a = self._attention(self.norm1(x))
        x = x + (self.gamma1 * a if self.gamma1 is not None else a)
        m = self.mlp(self.norm2(x))
        return x + (self.gamma2 * m if self.gamma2 is not None else m)


class NATLevel(nn.Module):
    def __init__(self, level: int, cfg: NatConfig, downsample: bool):
        super().__init__()
        dim = cfg.level_dim(level)
        self.blocks = nn.ModuleList(
            NATLayer(dim, cfg.num_heads[level], cfg.kernel_size, cfg.dilation(level, j), cfg)
            for j in range(cfg.depths[level])
        )
        self.downsample = ConvDownsampler(dim, cfg.layer_norm_eps) if downsample else None

    def forward(self, x):
        """Returns (output before downsampling, output after it)."""
        for block in self.blocks:
            x = block(x)
        return x, (self.downsample(x) if self.downsample is not None else x)


class NAT(nn.Module):
    """NAT / DiNAT classifier, or backbone when ``cfg.out_features`` is set. Input NCHW pixel values.

    A classifier returns logits (:meth:`forward`); a backbone returns HF's ``feature_maps``: for each stage
    in ``out_features``, the level's output before downsampling through that stage's own LayerNorm
    (``norm{i}`` as in the SHI-Labs detection / segmentation backbones, HF ``hidden_states_norms.stage{i+1}``;
    ``nn.LayerNorm`` default eps 1e-5 in both), as ``[B, C_i, H_i, W_i]``.
    """

    def __init__(self, cfg: NatConfig):
        from .memory import check_model_fits

        super().__init__()
        if torch.get_default_device().type != "meta":  # sizing on the meta device allocates nothing
            check_model_fits(cfg)
        self.config = cfg
        self.patch_embed = ConvTokenizer(cfg.in_chans, cfg.embed_dim, cfg.layer_norm_eps)
        self.levels = nn.ModuleList(NATLevel(i, cfg, i < cfg.num_levels - 1) for i in range(cfg.num_levels))
        if cfg.is_backbone:
            for i in cfg.out_indices:
                self.add_module(f"norm{i}", nn.LayerNorm(cfg.level_dim(i)))
            return
        self.norm = nn.LayerNorm(cfg.num_features, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(cfg.num_features, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()

    def _levels(self, x):
        x = self.patch_embed(x)
        embedded, outputs = x, []
        for level in self.levels:
            before, x = level(x)
            outputs.append((before, x))
        return embedded, outputs

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool and classifier on the normed final map ``[B, H/32, W/32, C]`` (NHWC).

        Returns ``[B, num_classes]`` logits, or the pooled ``[B, C]`` features with ``pre_logits``.
        """
        x = x.mean(dim=(1, 2))
        return x if pre_logits else self.head(x)

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The final normed feature map ``[B, H/32, W/32, num_features]`` (NHWC, as timm's hierarchical models)."""
        _, outputs = self._levels(pixel_values)
        return self.norm(outputs[-1][1])

    def forward(self, pixel_values: torch.Tensor):
        """``pixel_values [B, C, H, W]`` float -> logits ``[B, num_classes]`` (a classifier), or the tuple of
        feature maps of :meth:`forward_feature_maps` (a backbone)."""
        if self.config.is_backbone:
            return self.forward_feature_maps(pixel_values)
        return self.forward_head(self.forward_features(pixel_values))

    def forward_feature_maps(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """A backbone's outputs (HF ``BackboneOutput.feature_maps``), one per ``config.out_features``:
        ``[B, embed_dim * 2**i, ceil(H / 2**(i+2)), ceil(W / 2**(i+2))]`` for level i, float like the input.

        Raises:
            AttributeError: the model is a classifier (no ``out_features``).
        """
        _, outputs = self._levels(pixel_values)
        return tuple(getattr(self, f"norm{i}")(outputs[i][0]).permute(0, 3, 1, 2) for i in self.config.out_indices)

    def forward_intermediates(
        self,
        pixel_values: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """Per-level feature maps for backbone use (timm's ``forward_intermediates``).

        Args:
            pixel_values: ``[B, C, H, W]``.
            indices: the levels to return: None = all, an int n = the last n, a list = those levels (0-based).
            norm: apply the final LayerNorm to the last level's map (as timm does; classifiers only).
            output_fmt: ``NCHW`` or ``NHWC``.
            intermediates_only: return only the list of maps.

        Returns:
            The list of each chosen level's output before downsampling (strides 4, 8, 16, 32; channels
            ``embed_dim * 2**level``), or ``(final normed NHWC map, that list)``.

        Raises:
            ValueError: an unknown ``output_fmt`` or a level index out of range.
        """
        n = len(self.levels)
        if indices is None:
            take = list(range(n))
        elif isinstance(indices, int):
            take = list(range(n - indices, n))
        else:
            take = [i % n if i < 0 else i for i in indices]
        if any(not 0 <= i < n for i in take):
            raise ValueError(f"indices {indices} out of range for {n} levels")
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC', got {output_fmt!r}")
        _, outputs = self._levels(pixel_values)
        maps = []
        for i in take:
            x = outputs[i][0]
            if norm and i == n - 1 and not self.config.is_backbone:
                x = self.norm(x)
            maps.append(x.permute(0, 3, 1, 2) if output_fmt == "NCHW" else x)
        if intermediates_only:
            return maps
        final = outputs[-1][1]
        return (final if self.config.is_backbone else self.norm(final)), maps

    def hidden_states(self, pixel_values) -> list[torch.Tensor]:
        """HF ``reshaped_hidden_states``: embedding output, then each level after downsampling (NCHW)."""
        embedded, outputs = self._levels(pixel_values)
        return [embedded.permute(0, 3, 1, 2)] + [after.permute(0, 3, 1, 2) for _, after in outputs]
