"""Batch augmentations on tensors in [0, 1], vectorised, driven by an explicit generator."""
from __future__ import annotations

import torch


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `pad` and crop back to the original size at a random offset per sample."""
    if pad <= 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # [N, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # [N, 1, W]
    idx = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2).contiguous()


def hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero a size x size square (clipped at the border) centred at a random pixel per sample."""
    if size <= 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1, 1), generator=gen).to(x.device)
    cx = torch.randint(0, w, (n, 1, 1), generator=gen).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy).abs() * 2 < size) & ((xs - cx).abs() * 2 < size)  # [N, H, W]
    return x * (~inside)[:, None].to(x.dtype)


def scaled(pixels_at_32: int, side: int) -> int:
    """Augmentation sizes are specified for 32 px images; scale them to the input's side."""
    return int(round(pixels_at_32 * side / 32))
