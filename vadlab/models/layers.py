"""Blocks shared by two or more model families.

Shapes are commented; video tensors are (B, C, T, H, W) unless a block says otherwise.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def fold_time(clip: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C*T, H, W): frames stacked on channels (frame-major within a channel)."""
    b, c, t, h, w = clip.shape
    return clip.permute(0, 2, 1, 3, 4).reshape(b, t * c, h, w)  # (B, T*C, H, W)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions with batch norm and ReLU (the U-Net double conv)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net (Ronneberger et al.) as used by Liu et al. 2018 for future-frame prediction.

    (B, in_ch, H, W) -> (B, out_ch, H, W) in [-1, 1] (tanh). H and W must be divisible by 2**depth.
    """

    def __init__(self, in_ch: int, out_ch: int, base: int = 64, depth: int = 3):
        super().__init__()
        chans = [base * 2**i for i in range(depth + 1)]  # e.g. 64, 128, 256, 512
        self.down = nn.ModuleList([ConvBlock(in_ch, chans[0])])
        for i in range(depth):
            self.down.append(ConvBlock(chans[i], chans[i + 1]))
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for i in reversed(range(depth)):
            self.up.append(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2))
            self.up_conv.append(ConvBlock(chans[i] * 2, chans[i]))
        self.head = nn.Conv2d(chans[0], out_ch, 3, padding=1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()  # (B, base*2**depth, H/2**depth, W/2**depth)
        for up, conv in zip(self.up, self.up_conv):
            x = up(x)
            x = conv(torch.cat([x, skips.pop()], dim=1))
        return torch.tanh(self.head(x))  # (B, out_ch, H, W)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al. 2017): (B, in_ch, H, W) -> (B, 1, H/2**n, W/2**n) logits,
    one real/fake logit per receptive-field patch."""

    def __init__(self, in_ch: int, base: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, base, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = base
        for i in range(1, n_layers):
            nxt = min(base * 2**i, base * 8)
            layers += [nn.Conv2d(ch, nxt, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2, True)]
            ch = nxt
        layers += [nn.Conv2d(ch, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DepthwiseSeparableConv2d(nn.Module):
    """Depthwise k x k convolution followed by a pointwise 1x1 (MobileNet); far fewer parameters
    than a full convolution: in*k*k + in*out instead of in*out*k*k."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding: int | None = None, bias: bool = True):
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size, stride=stride, padding=padding, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ConvLSTMCell(nn.Module):
    """ConvLSTM cell (Shi et al. 2015): gates computed by one convolution over [x, h]."""

    def __init__(self, in_ch: int, hidden_ch: int, kernel_size: int = 3):
        super().__init__()
        self.hidden_ch = hidden_ch
        self.gates = nn.Conv2d(in_ch + hidden_ch, 4 * hidden_ch, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state  # (B, hidden, H, W) each
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTM(nn.Module):
    """Stacked ConvLSTM over time: (B, C, T, H, W) -> (B, hidden, T, H, W) (all hidden states of the
    last layer)."""

    def __init__(self, in_ch: int, hidden_ch: int, num_layers: int = 4, kernel_size: int = 3):
        super().__init__()
        self.cells = nn.ModuleList(
            [ConvLSTMCell(in_ch if i == 0 else hidden_ch, hidden_ch, kernel_size) for i in range(num_layers)]
        )
        self.hidden_ch = hidden_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        seq = [x[:, :, i] for i in range(t)]  # T x (B, C, H, W)
        for cell in self.cells:
            state = (x.new_zeros(b, self.hidden_ch, h, w), x.new_zeros(b, self.hidden_ch, h, w))
            outs = []
            for frame in seq:
                state = cell(frame, state)
                outs.append(state[0])
            seq = outs
        return torch.stack(seq, dim=2)  # (B, hidden, T, H, W)


def temporal_shift(x: torch.Tensor, shift_fraction: float = 0.25) -> torch.Tensor:
    """Temporal Shift Module (Lin et al. 2019) on (B, C, T, H, W).

    The first `shift_fraction/2` of the channels move one step BACKWARD in time (frame t takes frame
    t+1's values), the next `shift_fraction/2` move one step FORWARD (frame t takes frame t-1's), the
    rest stay; vacated positions are zero. No parameters, no FLOPs.
    """
    c = x.shape[1]
    fold = max(1, int(c * shift_fraction / 2))
    out = torch.zeros_like(x)
    out[:, :fold, :-1] = x[:, :fold, 1:]  # shift backward: t <- t+1
    out[:, fold : 2 * fold, 1:] = x[:, fold : 2 * fold, :-1]  # shift forward: t <- t-1
    out[:, 2 * fold :] = x[:, 2 * fold :]
    return out


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al. 2018) for 2D or 3D feature maps."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze = x.flatten(2).mean(-1)  # (B, C)
        weights = self.fc(squeeze).view(*squeeze.shape, *([1] * (x.ndim - 2)))  # (B, C, 1, 1[, 1])
        return x * weights


def image_gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient-difference loss (Mathieu et al. 2016), alpha = 1, on (B, C, H, W)."""
    def grads(x):
        return (x[..., :, 1:] - x[..., :, :-1]).abs(), (x[..., 1:, :] - x[..., :-1, :]).abs()

    pdx, pdy = grads(pred)
    tdx, tdy = grads(target)
    return (pdx - tdx).abs().mean() + (pdy - tdy).abs().mean()


def discriminator_bce(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Standard GAN discriminator loss on logits: BCE(D(real), 1) + BCE(D(fake), 0) (a sum; some
    families halve it)."""
    return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def generator_bce(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss on logits: BCE(D(fake), 1)."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-sample PSNR in dB of (B, ...) tensors with values spanning `data_range` ([-1, 1] -> 2)."""
    mse = (pred - target).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10.0 * torch.log10(data_range**2 / mse)
