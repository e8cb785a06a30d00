"""A style-based generator (Karras et al. 2019, "A Style-Based Generator Architecture for GANs") built from
switches, so that every step of the paper's Table 1 is a change of architecture options:

=====  ==========================================  ========================================================
row    paper                                       options (over the row before)
=====  ==========================================  ========================================================
A      baseline progressive GAN                    ``mapping_layers: 0, styles: false, const_input: false,
                                                   noise: false, mixing: 0, resample: nearest``
B      + tuning, bilinear up/down-sampling         ``resample: bilinear`` (and the tuned training settings)
C      + mapping network and styles                ``mapping_layers: 8, styles: true``
D      − traditional input                         ``const_input: true``
E      + noise inputs                              ``noise: true``
F      + mixing regularization                     ``mixing: 0.9``
=====  ==========================================  ========================================================

The defaults are row F (StyleGAN). There is no progressive growing: every network trains at its final size, as in
StyleGAN2, so row A is the ProGAN *network* trained at full size.

Generator, G(z) = synthesis(broadcast(mapping(z))):

- **mapping** (``mapping_layers`` fully connected layers with LeakyReLU(0.2), learning rate × ``mapping_lr_mult``,
  0.01 in the paper) maps the normalised code z to w (``w_dim``; null: the size of G's input). With 0 layers
  w is the normalised code itself (ProGAN's pixel norm of the latent).
- **synthesis** starts at 4×4 (7×7 for 28 px) and doubles the resolution until the image size; two layers per
  resolution, each reading one w of ``ws`` (N, ``num_ws``, w_dim), ``num_ws`` = 2 × resolutions:
  - ``styles: true, style_op: adain`` (StyleGAN1): layer 0 is the input followed by an epilogue (noise, bias,
    LeakyReLU, instance norm, AdaIN with the style A(w)); every other layer is a 3×3 convolution (the first of a
    resolution after ×2 up-sampling) with the same epilogue. The output layer is a 1×1 convolution to RGB.
  - ``styles: true, style_op: modulate`` (StyleGAN2 weight modulation/demodulation): every convolution scales its
    weights per input channel by the style A(w) and renormalises each output filter to unit norm; layer 0 is a
    modulated 3×3 convolution of the input, and the 1×1 output convolution is modulated (not demodulated) by the
    last w, so ``num_ws`` is the same as for AdaIN (StyleGAN2's count).
  - ``styles: false``: the traditional generator, w reaches the input only (``num_ws`` = 1) and each epilogue
    ends in ProGAN's pixel norm instead of a style.
- the input is a learned constant (``const_input: true``, ones at init) or a dense layer from w (ProGAN's
  "traditional input"); ``noise: true`` adds per-pixel Gaussian noise to every layer, one map per layer scaled by
  learned per-channel weights (zero at init, as in the paper).
- output: Tanh, so images are in [−1, 1] like every generator here.

Up-sampling (``resample``): ``nearest`` is nearest-neighbour ×2 and D down-samples by 2×2 average pooling
(ProGAN); ``bilinear`` is bilinear ×2 (StyleGAN1 wrote it as nearest-neighbour up-sampling followed by a
[1, 2, 1]⊗[1, 2, 1]/16 blur, which is the same) and D filters with [1, 3, 3, 1]/8 at stride 2 (the blur before
the pooling: the transpose of bilinear up-sampling). Edges are replicated. All four are fixed per-axis matrices
(``Resample``).

Equalised learning rate (``equalized_lr``; Karras et al. 2018): weights are stored N(0, 1) and multiplied at run
time by He's constant gain/√fan_in, so Adam's per-parameter steps move every layer at the same relative speed. A
learning-rate multiplier λ stores weights ×1/λ and scales them by λ at run time. A weight that spectral norm
reparametrises is used as it comes (its scale is σ's to decide). Without equalisation the same effective weights
are initialised directly. Equalised layers want the papers' learning rates (1e-3 to 2e-3, Adam β = (0, 0.99)):
Adam's steps are the same size in parameter units, so at DCGAN's 2e-4 weights stored at N(0, 1) change about an
order of magnitude more slowly, relative to their size, than He-initialised ones.

Training-time behaviour (``G.train()``): the running mean of w is tracked in the buffer ``w_avg`` (decay
``w_avg_beta``, in the state dict and so in ``generator.pt``), and with probability ``mixing`` per sample two
latents are drawn and the synthesis switches from the first w to the second at a random crossover layer c ∈
[1, num_ws − 1] (layers < c read w₁). Sampling (``G.eval()``) never mixes and truncates w towards ``w_avg`` by
``truncation`` ψ (``truncation_psi`` on the module; 1 = none). ``G.generate_mixed`` samples with k latents for
evaluation (the paper's Table 2).

The mixing partner of a conditional sample keeps its label: the codes of a conditional GAN end in a one-hot label
(``ganbench.train.conditioning``). The architecture is not told whether the GAN is conditional (it gets the code
size and the dataset's class count), so a code whose last ``num_classes`` entries are exactly one-hot keeps them;
Gaussian noise never is.

Discriminator: fromRGB (1×1) at the image size, then per resolution two 3×3 convolutions and a down-sampling
(``d_residual: true``: with a 1×1 shortcut, summed with the branch and scaled by 1/√2, as in StyleGAN2), a 3×3
convolution at the smallest map, a dense layer and the Linear(features, 1) head. LeakyReLU(0.2) throughout. The
tricks find its layers by role (``ganbench.tricks.surgery``): minibatch stddev, minibatch discrimination and the
projection head act on the head, PacGAN widens fromRGB, spectral norm reparametrises every layer. Because those
tricks copy raw weights into plain layers, fromRGB and the head are plain ``nn.Conv2d``/``nn.Linear`` initialised
with the effective weights equalisation would give them, not scaled at run time.

Channels: ``ch_g``/``ch_d`` up to 16×16 maps, halved for every doubling above (32 px: ½, 64 px: ¼), like the
paper's fmap_base/fmap_max plan at small sizes. 28 px starts at 7×7, as DCGAN and ResNet here do (7 → 14 → 28):
cropping a 32 px synthesis would spend about a quarter of the last layers on a border that D never judges.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganbench.errors import ConfigError
from ganbench.models.base import ARCHITECTURES, Architecture

_START = {28: 7, 32: 4, 64: 4}
_FULL_WIDTH = 16  # maps up to this size get the full ch_g/ch_d channels
SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
STYLE_OPS = ("adain", "modulate")
RESAMPLES = ("bilinear", "nearest")


# ---------------------------------------------------------------------------------------------------- layers
class _Scaled:
    """Run-time weight scaling shared by ``ScaledLinear`` and ``ScaledConv2d`` (equalised lr, lr multiplier)."""

    weight: nn.Parameter
    bias: nn.Parameter | None

    def _init_scaled(self, gain: float, equalized: bool, lr_mult: float, bias_init: float) -> None:
        fan_in = self.weight[0].numel()
        self.gain = gain  # He's constant for the activation that follows (√2 for LeakyReLU)
        he = gain / math.sqrt(fan_in)
        self.weight_gain = (he if equalized else 1.0) * lr_mult
        self.bias_gain = lr_mult
        with torch.no_grad():
            self.weight.normal_(0.0, (1.0 if equalized else he) / lr_mult)
            if self.bias is not None:
                self.bias.fill_(bias_init / lr_mult)

    def scaled_weight(self) -> torch.Tensor:
        """The weight the layer applies."""
        if parametrize.is_parametrized(self, "weight"):  # spectral norm: the reparametrisation sets the scale
            return self.weight
        return self.weight * self.weight_gain

    def scaled_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias * self.bias_gain


class ScaledLinear(_Scaled, nn.Linear):
    def __init__(self, c_in: int, c_out: int, *, equalized: bool, gain: float = 1.0, lr_mult: float = 1.0,
                 bias: bool = True, bias_init: float = 0.0):
        nn.Linear.__init__(self, c_in, c_out, bias=bias)
        self._init_scaled(gain, equalized, lr_mult, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.scaled_weight(), self.scaled_bias())


class ScaledConv2d(_Scaled, nn.Conv2d):
    """A stride-1, same-padding convolution with run-time weight scaling."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, equalized: bool, gain: float = LRELU_GAIN,
                 bias: bool = True):
        nn.Conv2d.__init__(self, c_in, c_out, kernel, 1, kernel // 2, bias=bias)
        self._init_scaled(gain, equalized, 1.0, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.scaled_weight(), self.scaled_bias(), padding=self.padding)


class ModulatedConv2d(ScaledConv2d):
    """StyleGAN2's convolution: weights scaled per input channel by the style s = A(w), then (``demodulate``)
    each output filter renormalised to unit norm. Computed as conv(x·s)·d, which equals the per-sample-weight
    convolution without building N weight tensors."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, *, equalized: bool, demodulate: bool,
                 gain: float = LRELU_GAIN):
        super().__init__(c_in, c_out, kernel, equalized=equalized, gain=gain, bias=False)
        self.affine = ScaledLinear(w_dim, c_in, equalized=equalized, bias_init=1.0)  # the style input "A"
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        s = self.affine(w)  # (N, c_in)
        weight = self.scaled_weight()
        x = F.conv2d(x * s[:, :, None, None].to(x.dtype), weight, padding=self.padding)
        if self.demodulate:
            energy = (s.float() ** 2) @ (weight.float() ** 2).sum(dim=(2, 3)).T  # (N, c_out): Σ (w·s)² per filter
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None].to(x.dtype)
        return x


class PixelNorm(nn.Module):
    """Each position's feature vector to unit mean square (ProGAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class AdaIN(nn.Module):
    """Instance normalisation, then per-channel scale (1 + s) and bias b from the style (s, b) = A(w)."""

    def __init__(self, channels: int, w_dim: int, equalized: bool):
        super().__init__()
        self.affine = ScaledLinear(w_dim, 2 * channels, equalized=equalized)  # the style input "A"

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.affine(w).to(x.dtype)[:, :, None, None].chunk(2, dim=1)
        return F.instance_norm(x, eps=1e-8) * (1 + scale) + bias


class NoiseInput(nn.Module):
    """Adds one N(0, 1) map per sample, scaled by a learned weight per channel (zero at init)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        return x + self.weight.to(x.dtype)[None, :, None, None] * noise


def resampling_matrix(mode: str, n: int, up: bool) -> torch.Tensor:
    """The per-axis linear map of ×2 up-sampling (2n × n) or ÷2 down-sampling (n/2 × n), edges replicated.

    nearest: up repeats each row, down averages pairs (2×2 average pooling). bilinear: up gives outputs 2m and
    2m + 1 as ¾x[m] + ¼x[m − 1] and ¾x[m] + ¼x[m + 1]; down gives (x[2m − 1] + 3x[2m] + 3x[2m + 1] + x[2m + 2])/8.
    """
    out = torch.zeros(2 * n if up else n // 2, n)

    def add(row: int, col: int, weight: float) -> None:
        out[row, min(max(col, 0), n - 1)] += weight

    bilinear = mode == "bilinear"
    for m in range(n if up else n // 2):
        if up:  # (output row, input column, weight)
            taps = [(2 * m, m, 0.75), (2 * m, m - 1, 0.25), (2 * m + 1, m, 0.75), (2 * m + 1, m + 1, 0.25)] \
                if bilinear else [(2 * m, m, 1.0), (2 * m + 1, m, 1.0)]
        else:
            taps = [(m, 2 * m + d, w) for d, w in
                    ([(-1, 0.125), (0, 0.375), (1, 0.375), (2, 0.125)] if bilinear else [(0, 0.5), (1, 0.5)])]
        for row, col, weight in taps:
            add(row, col, weight)
    return out


class Resample(nn.Module):
    """×2 or ÷2 over both spatial axes of an n×n map: x → M x Mᵀ with M = ``resampling_matrix``. Two small
    matrix products are cheaper on a CPU than a blur convolution, pooling or ``F.interpolate``, and unlike
    bilinear ``F.interpolate`` they have a deterministic CUDA backward pass."""

    def __init__(self, mode: str, n: int, up: bool):
        super().__init__()
        self.mode, self.up = mode, up
        self.register_buffer("matrix", resampling_matrix(mode, n, up), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.matrix.to(x.dtype)
        return m @ x @ m.T


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(SLOPE)


# ---------------------------------------------------------------------------------------------------- generator
class MappingNetwork(nn.Module):
    """z → w: the normalised code through ``layers`` fully connected layers (0: w is the normalised code)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mult: float, equalized: bool):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        net: list[nn.Module] = [PixelNorm()]
        for c_in, c_out in zip(dims, dims[1:]):
            net += [ScaledLinear(c_in, c_out, equalized=equalized, gain=LRELU_GAIN, lr_mult=lr_mult), _lrelu()]
        self.net = nn.Sequential(*net)
        self.z_dim, self.w_dim = z_dim, w_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ConstInput(nn.Module):
    """The learned constant input (ones at init); w is not read."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, channels, size, size))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.const.expand(w.shape[0], -1, -1, -1)


class DenseInput(nn.Module):
    """The traditional input: w → size×size×channels by a dense layer (ProGAN, with its gain √2/4)."""

    def __init__(self, w_dim: int, channels: int, size: int, equalized: bool):
        super().__init__()
        self.shape = (channels, size, size)
        self.dense = ScaledLinear(w_dim, channels * size * size, equalized=equalized, gain=LRELU_GAIN / 4)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.dense(w).view(w.shape[0], *self.shape)


class SynthesisLayer(nn.Module):
    """[×2 up-sampling] [3×3 convolution] → noise → bias → LeakyReLU → AdaIN / pixel norm; reads one w.

    ``style_op``: "adain" (style in the epilogue), "modulate" (style in the convolution) or None (no style:
    pixel norm). ``conv: false`` (only for AdaIN and no style) makes the input layer's epilogue alone; ``up``: the
    size of the map to up-sample first (0: none)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, *, style_op: str | None, conv: bool, up: int,
                 noise: bool, resample: str, equalized: bool):
        super().__init__()
        self.up = Resample(resample, up, up=True) if up else nn.Identity()
        self.modulated = style_op == "modulate"
        if self.modulated:
            self.conv: nn.Module = ModulatedConv2d(c_in, c_out, 3, w_dim, equalized=equalized, demodulate=True)
        else:
            self.conv = ScaledConv2d(c_in, c_out, 3, equalized=equalized, bias=False) if conv else nn.Identity()
        self.noise = NoiseInput(c_out) if noise else nn.Identity()
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.act = _lrelu()
        self.adain = style_op == "adain"
        if self.adain:
            self.norm: nn.Module = AdaIN(c_out, w_dim, equalized)
        else:  # demodulation normalises a modulated layer; a layer without styles gets ProGAN's pixel norm
            self.norm = nn.Identity() if self.modulated else PixelNorm()

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        x = self.conv(x, w) if self.modulated else self.conv(x)
        x = self.act(self.noise(x) + self.bias.to(x.dtype)[None, :, None, None])
        return self.norm(x, w) if self.adain else self.norm(x)


class ToRGB(nn.Module):
    """1×1 convolution to the image channels (modulated by the last w for ``modulate``), then Tanh."""

    def __init__(self, c_in: int, channels: int, w_dim: int, *, modulated: bool, equalized: bool):
        super().__init__()
        self.modulated = modulated
        if modulated:
            self.conv: nn.Module = ModulatedConv2d(c_in, channels, 1, w_dim, equalized=equalized, demodulate=False,
                                                   gain=1.0)
        else:
            self.conv = ScaledConv2d(c_in, channels, 1, equalized=equalized, gain=1.0, bias=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w) if self.modulated else self.conv(x)
        return torch.tanh(x + self.bias.to(x.dtype)[None, :, None, None])


class Synthesis(nn.Module):
    """ws (N, num_ws, w_dim) → images; layer i reads ws[:, i] (with styles; without, only the input reads w)."""

    def __init__(self, input_layer: nn.Module, layers: list[SynthesisLayer], to_rgb: ToRGB, styles: bool):
        super().__init__()
        self.input = input_layer
        self.layers = nn.ModuleList(layers)
        self.to_rgb = to_rgb
        self.styles = styles
        self.num_ws = (len(layers) + int(to_rgb.modulated)) if styles else 1

    def style_inputs(self) -> list[nn.Module]:
        """The affine layers "A" that turn w into styles, in the order of the w they read (ws[:, i] → i-th)."""
        mods = [layer.conv if layer.modulated else layer.norm for layer in self.layers]
        if self.to_rgb.modulated:
            mods.append(self.to_rgb.conv)
        return [m.affine for m in mods if hasattr(m, "affine")]

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"synthesis expects ws of shape (N, {self.num_ws}, w_dim), got {tuple(ws.shape)}")
        x = self.input(ws[:, 0])
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i if self.styles else 0])
        return self.to_rgb(x, ws[:, -1])


class StyleGenerator(nn.Module):
    """G(code) = synthesis(ws), ws = mapping(code) per layer, mixed (training) or truncated (evaluation)."""

    def __init__(self, mapping: MappingNetwork, synthesis: Synthesis, *, mixing: float, truncation: float,
                 w_avg_beta: float, num_classes: int):
        super().__init__()
        self.mapping = mapping
        self.synthesis = synthesis
        self.mixing = float(mixing)
        self.truncation_psi = float(truncation)
        self.w_avg_beta = float(w_avg_beta)
        self.num_classes = int(num_classes)
        self.register_buffer("w_avg", torch.zeros(mapping.w_dim))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    # ------------------------------------------------------------------ pieces for evaluation
    def truncate(self, w: torch.Tensor, psi: float | None = None) -> torch.Tensor:
        """w pulled towards the running mean: w_avg + ψ·(w − w_avg) (ψ: ``truncation_psi`` unless given)."""
        psi = self.truncation_psi if psi is None else float(psi)
        return w if psi == 1.0 else torch.lerp(self.w_avg.to(w.dtype), w, psi)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """One w for every layer: (N, w_dim) → (N, num_ws, w_dim)."""
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def mix(self, ws: torch.Tensor, cutoffs: torch.Tensor) -> torch.Tensor:
        """Per-layer w from k latents: ``ws`` (N, k, w_dim), ``cutoffs`` (N, k − 1) ascending layer indices in
        [1, num_ws]; layer i reads latent j = #{cutoffs ≤ i} (layers below the first cutoff read latent 0). A
        cutoff of num_ws switches nothing. Returns (N, num_ws, w_dim)."""
        layer = torch.arange(self.num_ws, device=ws.device)
        latent = (cutoffs[:, None, :] <= layer[None, :, None]).sum(-1)  # (N, num_ws)
        return ws.gather(1, latent[:, :, None].expand(-1, -1, ws.shape[2]))

    def random_cutoffs(self, n: int, k: int, generator: torch.Generator | None = None,
                       device: torch.device | str = "cpu") -> torch.Tensor:
        """(n, k − 1) crossover layers for k latents: k − 1 distinct points drawn uniformly from [1, num_ws − 1]
        per sample, sorted, so every one of the k latents reaches at least one layer."""
        if not 1 <= k <= self.num_ws:
            raise ValueError(f"mixing {k} latents needs 1 <= k <= num_ws = {self.num_ws}")
        order = torch.rand(n, self.num_ws - 1, generator=generator).argsort(dim=1)
        return (order[:, : k - 1] + 1).sort(dim=1).values.to(device)

    def generate_mixed(self, codes: torch.Tensor, generator: torch.Generator | None = None,
                       psi: float | None = None) -> torch.Tensor:
        """Images from k latents each, ``codes`` (N, k, code size), switched at random crossovers
        (``random_cutoffs``), each w truncated by ψ first. k = 1 is ordinary sampling."""
        n, k = codes.shape[:2]
        ws = self.truncate(self.mapping(codes.flatten(0, 1)), psi).view(n, k, -1)
        return self.synthesis(self.mix(ws, self.random_cutoffs(n, k, generator, codes.device)))

    # ------------------------------------------------------------------ training
    def mixing_partner(self, code: torch.Tensor) -> torch.Tensor:
        """A second code per sample: fresh noise, keeping a one-hot label at the end of a conditional code."""
        fresh = torch.randn_like(code)
        k = self.num_classes
        if k and code.shape[1] > k:
            tail = code[:, -k:]
            onehot = ((tail == 0) | (tail == 1)).all(dim=1, keepdim=True) & (tail.sum(dim=1, keepdim=True) == 1)
            fresh[:, -k:] = torch.where(onehot, tail, fresh[:, -k:])
        return fresh

    def mixing_regularization(self, code: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """With probability ``mixing`` per sample, switch to a second latent's w at a random layer in
        [1, num_ws − 1]; the other samples keep one w everywhere (cutoff num_ws)."""
        n = code.shape[0]
        w2 = self.mapping(self.mixing_partner(code))
        cut = torch.randint(1, self.num_ws, (n,), device=code.device)
        cut = torch.where(torch.rand(n, device=code.device) < self.mixing, cut, torch.full_like(cut, self.num_ws))
        return self.mix(torch.stack([w, w2], dim=1), cut[:, None])

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        w = self.mapping(code)
        if not self.training:
            return self.synthesis(self.broadcast(self.truncate(w)))
        with torch.no_grad():
            self.w_avg.lerp_(w.detach().float().mean(0), 1.0 - self.w_avg_beta)
        if self.mixing > 0:
            return self.synthesis(self.mixing_regularization(code, w))
        return self.synthesis(self.broadcast(w))


# ---------------------------------------------------------------------------------------------------- discriminator
class DBlock(nn.Module):
    """3×3 conv → LReLU → ÷2 → 3×3 conv → LReLU; ``residual``: plus a ÷2 → 1×1 shortcut, the sum scaled 1/√2."""

    def __init__(self, c_in: int, c_out: int, size: int, *, resample: str, equalized: bool, residual: bool):
        super().__init__()
        self.branch = nn.Sequential(
            ScaledConv2d(c_in, c_in, 3, equalized=equalized), _lrelu(), Resample(resample, size, up=False),
            ScaledConv2d(c_in, c_out, 3, equalized=equalized), _lrelu(),
        )
        self.shortcut = nn.Sequential(
            Resample(resample, size, up=False), ScaledConv2d(c_in, c_out, 1, equalized=equalized, gain=1.0, bias=False),
        ) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return self.branch(x)
        return (self.branch(x) + self.shortcut(x)) * (1 / math.sqrt(2))


def _plain_init(layer: nn.Conv2d | nn.Linear, gain: float) -> nn.Module:
    """He-scaled N(0, gain²/fan_in) weights and zero bias: the effective weights of an equalised layer."""
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(layer.weight[0].numel()))
    nn.init.zeros_(layer.bias)
    return layer


# ---------------------------------------------------------------------------------------------------- family
@ARCHITECTURES.register("stylegan")
class StyleGAN(Architecture):
    """Options (defaults: the paper's configuration F): see the module docstring."""

    kinds = ("image",)
    defaults = {
        "ch_g": 256, "ch_d": 256, "w_dim": None,
        "mapping_layers": 8, "mapping_lr_mult": 0.01,
        "styles": True, "style_op": "adain", "const_input": True, "noise": True, "mixing": 0.9,
        "resample": "bilinear", "equalized_lr": True, "truncation": 1.0, "w_avg_beta": 0.995,
        "d_residual": False,
    }

    @classmethod
    def supports(cls, kind, shape):
        reason = cls.square_image_reason(kind, shape, _START)
        if reason is None and shape[0] not in (1, 3):
            reason = f"needs 1 (grey) or 3 (colour) image channels, not {shape[0]}"
        return reason

    def __init__(self, shape, kind, z_dim, num_classes, options, key):
        super().__init__(shape, kind, z_dim, num_classes, options, key)
        o = self.options

        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"{key}.{name}: expected {expected}, got {o[name]!r}")

        for name in ("ch_g", "ch_d"):
            if not isinstance(o[name], int) or o[name] < 1:
                raise bad(name, "an integer >= 1")
        if not isinstance(o["mapping_layers"], int) or o["mapping_layers"] < 0:
            raise bad("mapping_layers", "an integer >= 0 (0: no mapping network, w is the normalised z)")
        if o["w_dim"] is not None and (not isinstance(o["w_dim"], int) or isinstance(o["w_dim"], bool)
                                       or o["w_dim"] < 1):
            raise bad("w_dim", "an integer >= 1 or null (the size of G's input)")
        if o["w_dim"] is not None and o["mapping_layers"] == 0:
            raise ConfigError(f"{key}.w_dim: without a mapping network (mapping_layers: 0) w is the normalised "
                              "code itself; leave w_dim null")
        if not o["mapping_lr_mult"] > 0:
            raise bad("mapping_lr_mult", "a number > 0")
        if o["style_op"] not in STYLE_OPS:
            raise bad("style_op", f"one of {', '.join(STYLE_OPS)}")
        if o["resample"] not in RESAMPLES:
            raise bad("resample", f"one of {', '.join(RESAMPLES)}")
        if not 0.0 <= o["mixing"] <= 1.0:
            raise bad("mixing", "a probability in [0, 1]")
        if not 0.0 <= o["w_avg_beta"] < 1.0:
            raise bad("w_avg_beta", "a number in [0, 1)")
        if not o["styles"]:
            if o["const_input"]:
                raise ConfigError(f"{key}.const_input: a constant input without styles would ignore the latent; "
                                  "set styles: true or const_input: false")
            if o["mixing"] > 0:
                raise ConfigError(f"{key}.mixing: mixing regularization switches styles between latents; "
                                  "set styles: true or mixing: 0")

    # ------------------------------------------------------------------ plan
    def _levels(self) -> list[int]:
        """The map sizes from the first to the image size, e.g. [4, 8, 16, 32]."""
        size = self.shape[1]
        sizes = [_START[size]]
        while sizes[-1] < size:
            sizes.append(sizes[-1] * 2)
        return sizes

    @staticmethod
    def _channels(base: int, res: int) -> int:
        halvings = max(0, math.ceil(math.log2(res / _FULL_WIDTH)))
        return max(1, base >> halvings)

    @property
    def w_dim(self) -> int:
        return self.options["w_dim"] or self.z_dim

    # ------------------------------------------------------------------ networks
    def generator(self) -> StyleGenerator:
        o = self.options
        eq, styles = bool(o["equalized_lr"]), bool(o["styles"])
        style_op = o["style_op"] if styles else None
        levels = self._levels()
        ch = [self._channels(int(o["ch_g"]), r) for r in levels]
        w_dim = self.w_dim
        mapping = MappingNetwork(self.z_dim, w_dim, int(o["mapping_layers"]), float(o["mapping_lr_mult"]), eq)
        start = ConstInput(ch[0], levels[0]) if o["const_input"] else DenseInput(w_dim, ch[0], levels[0], eq)

        def layer(c_in: int, c_out: int, conv: bool = True, up: int = 0) -> SynthesisLayer:
            return SynthesisLayer(c_in, c_out, w_dim, style_op=style_op, conv=conv, up=up, noise=bool(o["noise"]),
                                  resample=o["resample"], equalized=eq)

        if style_op == "modulate":  # StyleGAN2: one convolution at the first size (the output layer reads a w)
            layers = [layer(ch[0], ch[0])]
        else:  # StyleGAN1/ProGAN: the input's epilogue, then a convolution
            layers = [layer(ch[0], ch[0], conv=False), layer(ch[0], ch[0])]
        for c_in, c_out, size in zip(ch, ch[1:], levels):
            layers += [layer(c_in, c_out, up=size), layer(c_out, c_out)]
        to_rgb = ToRGB(ch[-1], self.shape[0], w_dim, modulated=style_op == "modulate", equalized=eq)
        return StyleGenerator(mapping, Synthesis(start, layers, to_rgb, styles), mixing=float(o["mixing"]),
                              truncation=float(o["truncation"]), w_avg_beta=float(o["w_avg_beta"]),
                              num_classes=self.num_classes)

    def discriminator(self) -> nn.Module:
        o = self.options
        eq = bool(o["equalized_lr"])
        levels = self._levels()[::-1]  # image size first
        ch = [self._channels(int(o["ch_d"]), r) for r in levels]
        layers: list[nn.Module] = [_plain_init(nn.Conv2d(self.shape[0], ch[0], 1), LRELU_GAIN), _lrelu()]
        for c_in, c_out, size in zip(ch, ch[1:], levels):
            layers.append(DBlock(c_in, c_out, size, resample=o["resample"], equalized=eq,
                                 residual=bool(o["d_residual"])))
        last, size = ch[-1], levels[-1]
        layers += [ScaledConv2d(last, last, 3, equalized=eq), _lrelu(), nn.Flatten(),
                   ScaledLinear(last * size * size, last, equalized=eq, gain=LRELU_GAIN), _lrelu(),
                   _plain_init(nn.Linear(last, 1), 1.0), nn.Flatten(0)]
        return nn.Sequential(*layers)
