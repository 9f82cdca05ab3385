"""ADWM networks (Huang et al., CVPR 2025, arXiv 2503.13214) as torch modules.

This module imports torch at the top: load it through ``adwm.build_adwm`` (lazy import).
Written from the paper's equations and the released state_dicts (parameter names and shapes
match Jie-1203/ADWM so its WorldView-3 weights load with strict=True).

ADWM = CACW used twice:
- CACW: per-pixel channel-centred features X (N x C) -> Gram matrix X^T X turned into a
  correlation matrix (divide by sqrt(diag) on both sides) -> an MLP on each row gives one
  weight per channel.
- IFW: each of the K backbone blocks' output is re-weighted channel-wise by its own CACW.
- CFW: the K block outputs' spatial means (K x C, centred over K) go through a CACW over K,
  softmax over K, and weight the sum of the re-weighted block outputs.

Both need statistics of the whole image. ``GlobalStats`` makes them explicit so a tiled run can
collect them tile by tile (sums over non-overlapping tile cores, nodata pixels left out) before
the final pass.

LAGConv variant: the authors' current code puts a LayerNorm (with weights) before each CACW MLP;
their released LAGConv weights have no such weights (14 keys missing, so their own strict load
fails), i.e. they were trained without it. ``ADWMLAGConv(cov_layernorm=False)`` (the default)
leaves it out; ``cov_layernorm=True`` applies a LayerNorm without learned weights (the authors'
at its initial weight 1, bias 0), reachable only through a user card. LAGConv runs in float64:
in float32 its activations grow to ~850 through the residual blocks and rounding moves the
output by up to 15 DN with the thread count or the tiling (see ``precision``).
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------- global statistics
class StopForward(Exception):
    """Raised inside a statistics-collection pass once the wanted statistic is accumulated."""


class GlobalStats:
    """Whole-image statistics used by the ADWM and LAGConv layers, keyed by layer name.

    Untiled (``core is None`` and nothing frozen) layers compute their statistics from their
    own input, exactly like the reference networks, over the pixels of ``mask`` when it is set
    (nodata left out). In a tiled run the driver sets ``core`` (the tile's core window inside
    the read window) and ``mask`` (the core's pixels to count); a layer whose statistic is not
    frozen yet adds the core's sums to ``sums`` and stops the forward pass; ``freeze`` then
    turns sums into values for the next pass.
    """

    def __init__(self) -> None:
        self.values: Dict[str, Tuple[torch.Tensor, ...]] = {}
        self.sums: Dict[str, List] = {}
        self.finalizers: Dict[str, Callable] = {}
        self.core: Optional[Tuple[int, int, int, int]] = None
        self.mask: Optional[torch.Tensor] = None  # bool (rows, cols): the pixels to count

    def resolve(self, name: str, x: torch.Tensor, sums_fn, finalize_fn, direct_fn):
        if name in self.values:
            return self.values[name]
        if self.core is None:
            return direct_fn(x) if self.mask is None else finalize_fn(*sums_fn(x, self.mask))
        y0, y1, x0, x1 = self.core
        sums = sums_fn(x[..., y0:y1, x0:x1], self.mask)
        if name in self.sums:
            self.sums[name] = [a + b for a, b in zip(self.sums[name], sums)]
        else:
            self.sums[name] = list(sums)
        self.finalizers[name] = finalize_fn
        raise StopForward(name)

    def freeze(self, name: str) -> None:
        self.values[name] = self.finalizers.pop(name)(*self.sums.pop(name))


def _stats_or_local(stats: Optional[GlobalStats]) -> GlobalStats:
    return stats if stats is not None else GlobalStats()


# --------------------------------------------------------------------------- CACW / ADWM
def _correlation(gram: torch.Tensor) -> torch.Tensor:
    d = torch.sqrt(torch.diagonal(gram, dim1=-2, dim2=-1))
    return gram / (d.unsqueeze(-1) * d.unsqueeze(-2))


class CACW(nn.Module):
    """Correlation-aware covariance weighting: correlation matrix -> MLP -> one weight per row.

    Layer indices (0, 3, 5) follow the released weights (a dropout sat at index 1)."""

    def __init__(self, dim: int, hidden: int, layer_norm: bool = False) -> None:
        super().__init__()
        self.cov_mlp = nn.Sequential(
            nn.Linear(dim, dim), nn.Identity(), nn.LeakyReLU(),
            nn.Linear(dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, 1))
        self.ln = nn.LayerNorm(dim, elementwise_affine=False) if layer_norm else None

    def forward(self, corr: torch.Tensor) -> torch.Tensor:
        if self.ln is not None:
            corr = self.ln(corr)
        return self.cov_mlp(corr).squeeze(-1)


def _pixels(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, pixels) in float64, only the pixels where ``mask`` is True."""
    x = x.double()
    return x.flatten(2) if mask is None else x[..., mask]


def _gram_sums(x: torch.Tensor, mask: Optional[torch.Tensor] = None
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sums over pixels of the per-pixel channel-centred outer product, and of the features."""
    flat = _pixels(x, mask)
    centred = flat - flat.mean(dim=1, keepdim=True)
    gram = centred @ centred.transpose(1, 2)
    return gram, flat.sum(dim=2), torch.tensor(float(flat.shape[-1]), dtype=torch.float64)


class ADWM(nn.Module):
    """Dual-level weighting of K feature maps (the ``bw_output`` block of the released nets)."""

    def __init__(self, channels: int, blocks: int, hidden: int, layer_norm: bool = False,
                 temperature: bool = False) -> None:
        super().__init__()
        self.CovBlockList = nn.ModuleList(CACW(channels, hidden, layer_norm) for _ in range(blocks))
        self.global_covblock = CACW(blocks, blocks, layer_norm)
        # LGPNet's released state_dict has a 'temperature' (1, C, 1, 1) that the released code
        # never uses; every use we tried (scale, bias, residual scale, softmax/sigmoid
        # temperature of the IFW weights) made the results clearly worse, so it is loaded and
        # ignored, like in the authors' code.
        self.temperature = nn.Parameter(torch.ones(1, channels, 1, 1)) if temperature else None

    @staticmethod
    def _sums(stacked: torch.Tensor, mask: Optional[torch.Tensor] = None):
        grams, feats = [], []
        for k in range(stacked.shape[1]):
            g, f, n = _gram_sums(stacked[:, k], mask)
            grams.append(g)
            feats.append(f)
        return torch.stack(grams, 1), torch.stack(feats, 1), n

    @staticmethod
    def _finalize(grams, feats, count):
        return grams, feats / count

    @staticmethod
    def _direct(stacked):
        """Untiled path in the input dtype (no Python-side shapes: exports to ONNX)."""
        flat = stacked.flatten(3)  # B x K x C x N
        centred = flat - flat.mean(dim=2, keepdim=True)
        return centred @ centred.transpose(2, 3), flat.mean(dim=3)

    def forward(self, features: List[torch.Tensor], stats: Optional[GlobalStats] = None,
                name: str = "adwm") -> torch.Tensor:
        stacked = torch.stack(features, dim=1)  # B x K x C x H x W
        grams, means = _stats_or_local(stats).resolve(name, stacked, self._sums, self._finalize, self._direct)
        dtype = stacked.dtype
        corr = _correlation(grams).to(dtype)
        # IFW: channel weights of each block from its own correlation matrix
        w = torch.stack([blk(corr[:, k]) for k, blk in enumerate(self.CovBlockList)], dim=1)
        # CFW: block weights from the correlation of the blocks' mean features (centred over K)
        m = means.transpose(1, 2)  # B x C x K
        m = m - m.mean(dim=-1, keepdim=True)
        g = torch.softmax(self.global_covblock(_correlation(m.transpose(1, 2) @ m).to(dtype)), dim=-1)
        return torch.sum(stacked * (w * g.unsqueeze(-1))[..., None, None], dim=1)


# --------------------------------------------------------------------------- FusionNet backbone
class _ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv20 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv21 = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x):
        return x + self.conv21(F.leaky_relu(self.conv20(x)))


def _upsample(ms: torch.Tensor, ratio: int) -> torch.Tensor:
    """The networks' own bicubic upsampling of the low-resolution MS (torch, a = -0.75)."""
    return F.interpolate(ms, scale_factor=ratio, mode="bicubic", align_corners=False)


class ADWMFusionNet(nn.Module):
    """FusionNet (Deng et al. 2021) + ADWM: input PAN - MS_up (PAN repeated per band)."""

    halo = 24  # PAN pixels: 10 3x3 convs + bicubic support, rounded up to a multiple of 4

    def __init__(self, ms_bands: int = 8, channels: int = 32, blocks: int = 4, ratio: int = 4) -> None:
        super().__init__()
        self.ratio = ratio
        self.raise_dim = nn.Sequential(nn.Conv2d(ms_bands, channels, 3, 1, 1), nn.LeakyReLU())
        self.layers = nn.ModuleList(_ResBlock(channels) for _ in range(blocks))
        self.bw_output = ADWM(channels, blocks, channels)
        self.to_output = nn.Sequential(nn.Conv2d(channels, ms_bands, 3, 1, 1))

    def forward(self, ms: torch.Tensor, pan: torch.Tensor, stats: Optional[GlobalStats] = None):
        ms_up = _upsample(ms, self.ratio)
        x = self.raise_dim(pan - ms_up)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return self.to_output(self.bw_output(feats, stats)) + ms_up


# --------------------------------------------------------------------------- LAGConv backbone
class LAConv2D(nn.Module):
    """Local-context adaptive 3x3 convolution (Jin et al., AAAI 2022): a per-pixel 3x3 mask
    (sigmoid, shared by the input channels) modulates the kernel, plus a bias from the
    globally pooled input. Written as 9 shifted 1x1 convolutions instead of unfold."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.attention1 = nn.Sequential(
            nn.Conv2d(cin, 9, 3, 1, 1), nn.LeakyReLU(), nn.Conv2d(9, 9, 1), nn.LeakyReLU(),
            nn.Conv2d(9, 9, 1), nn.Sigmoid())
        self.attention3 = nn.Sequential(
            nn.Identity(), nn.Conv2d(cin, cout, 1), nn.LeakyReLU(), nn.Conv2d(cout, cout, 1))
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        nn.init.kaiming_uniform_(self.weight)

    @staticmethod
    def _sums(x, mask: Optional[torch.Tensor] = None):
        flat = _pixels(x, mask)
        return flat.sum(dim=2), torch.tensor(float(flat.shape[-1]), dtype=torch.float64)

    @staticmethod
    def _finalize(total, count):
        return (total / count,)

    def forward(self, x: torch.Tensor, stats: Optional[GlobalStats] = None, name: str = "") -> torch.Tensor:
        (mean,) = _stats_or_local(stats).resolve(name, x, self._sums, self._finalize,
                                                  lambda t: (t.mean(dim=(2, 3)),))
        mask = self.attention1(x)
        h, w = x.shape[2:]
        xp = F.pad(x, (1, 1, 1, 1))
        y = None
        for k in range(9):
            dy, dx = divmod(k, 3)
            term = mask[:, k:k + 1] * xp[:, :, dy:dy + h, dx:dx + w]
            term = F.conv2d(term, self.weight[:, :, dy:dy + 1, dx:dx + 1])
            y = term if y is None else y + term
        bias = self.attention3(mean.to(x.dtype)[:, :, None, None])
        return y + bias


class _LACRB(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = LAConv2D(ch, ch)
        self.conv2 = LAConv2D(ch, ch)
        self.bn1 = nn.BatchNorm2d(ch)

    def forward(self, x, stats, name):
        res = F.leaky_relu(self.bn1(self.conv1(x, stats, name + ".conv1")))
        return x + self.conv2(res, stats, name + ".conv2")


class ADWMLAGConv(nn.Module):
    """LAGConv (Jin et al. 2022) + ADWM: input [PAN, MS_up]. Without the CACW LayerNorm by
    default (the released weights were trained without it: see the module docstring)."""

    halo = 24  # 14 LAConv layers (radius 1 each) + bicubic support
    # float32 rounding is amplified ~1e4 times through the residual blocks (activations grow
    # from ~1 to ~850): the output then depends on the thread count and the tiling by up to
    # 15 DN; in float64 by less than 1e-3 DN.
    precision = torch.float64

    def __init__(self, ms_bands: int = 8, channels: int = 48, blocks: int = 6, ratio: int = 4,
                 cov_layernorm: bool = False) -> None:
        super().__init__()
        self.ratio = ratio
        self.raise_dim = nn.ModuleList([LAConv2D(ms_bands + 1, channels)])
        self.layers = nn.ModuleList(_LACRB(channels) for _ in range(blocks))
        self.bw_output = ADWM(channels, blocks, round(channels * 0.8), layer_norm=cov_layernorm)
        self.to_output = nn.ModuleList([LAConv2D(channels, ms_bands)])

    def forward(self, ms: torch.Tensor, pan: torch.Tensor, stats: Optional[GlobalStats] = None):
        ms_up = _upsample(ms, self.ratio)
        x = F.leaky_relu(self.raise_dim[0](torch.cat([pan, ms_up], 1), stats, "raise_dim"))
        feats = []
        for i, layer in enumerate(self.layers):
            x = layer(x, stats, f"layers.{i}")
            feats.append(x)
        x = self.bw_output(feats, stats)
        return self.to_output[0](x, stats, "to_output") + ms_up


# --------------------------------------------------------------------------- LGPNet backbone
class AddConv(nn.Module):
    """LGPNet's convolution: 1x1 then depthwise 3x3, plus a learned depthwise 3x3 + 1x1 term."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.point_wise = nn.Conv2d(cin, cout, 1)
        self.depth_wise = nn.Conv2d(cout, cout, 3, 1, 1, groups=cout)
        self.weight = nn.Parameter(torch.zeros(cout, 1, 3, 3))
        self.weight_2 = nn.Parameter(torch.zeros(cout, cout, 1, 1))

    def forward(self, x):
        y = self.depth_wise(self.point_wise(x))
        extra = F.conv2d(F.conv2d(y, self.weight, padding=1, groups=y.shape[1]), self.weight_2)
        return y + extra


class _LGPBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = AddConv(ch, ch)
        self.conv2 = AddConv(ch, ch)

    def forward(self, x):
        return x + F.relu(self.conv2(F.relu(self.conv1(x))))


class ADWMLGPNet(nn.Module):
    """LGPNet + ADWM: input [PAN, MS_up]; 20 -> 32 channels, 4 blocks, 32 -> 16 -> 8 -> 8 head."""

    halo = 36  # 13 AddConv layers (radius 2 each) + bicubic support

    def __init__(self, ms_bands: int = 8, ratio: int = 4) -> None:
        super().__init__()
        self.ratio = ratio
        self.raise_dim = nn.Sequential(AddConv(ms_bands + 1, 20), AddConv(20, 32), nn.LeakyReLU())
        self.layers = nn.ModuleList(_LGPBlock(32) for _ in range(4))
        self.bw_output = ADWM(32, 4, round(32 * 0.6), temperature=True)
        self.to_output = nn.Sequential(AddConv(32, 16), AddConv(16, ms_bands), AddConv(ms_bands, ms_bands))

    def forward(self, ms: torch.Tensor, pan: torch.Tensor, stats: Optional[GlobalStats] = None):
        ms_up = _upsample(ms, self.ratio)
        x = self.raise_dim(torch.cat([pan, ms_up], 1))
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return self.to_output(self.bw_output(feats, stats)) + ms_up
