"""The normalization variants the study compares, and the small CNN they sit in.

The CNN follows cuda-convnet's CIFAR-10 ``layers-18pct`` net (conv -> ReLU -> max pool -> norm
-> conv -> ReLU -> avg pool -> norm -> conv -> ReLU -> pool -> fc), scaled to the image size:
3x3 kernels and 2x2 pools for images up to 16 pixels, 5x5 kernels and 3/2 pools above. Every
variant puts its normalization in the same two slots, so only the normalization differs.

Variants whose layer is not (yet) in ``localnorm`` are reported as not available with the
reason; nothing is replaced by a stand-in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

import localnorm

# name -> (label, description)
VARIANTS: dict[str, tuple[str, str]] = {
    "none": ("none", "no normalization"),
    "lrn_across": ("LRN across", "LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2): AlexNet"),
    "lrn_caffe": ("LRN across (Caffe defaults)",
                  "LocalResponseNorm(5, alpha=1, beta=0.75, k=1): Caffe's default lrn_param"),
    "lrn_within": ("LRN within", "LocalResponseNorm(3, alpha=5e-5, beta=0.75, k=1, "
                                 "region='within'): cuda-convnet rnorm, layers-18pct"),
    "lcn": ("LCN", "LocalContrastNorm(size=3): Jarrett et al. 2009"),
    "dn": ("DN", "DivisiveNorm(C): Ren et al. 2017"),
    "gdn": ("GDN", "GDN(C): Balle et al. 2016"),
    "bn": ("BatchNorm", "BatchNorm2d(C)"),
    "ln": ("LayerNorm", "GroupNorm(1, C)"),
}


def _family(name: str) -> Callable[..., nn.Module] | None:
    return getattr(localnorm, name, None)


def why_not(variant: str) -> str | None:
    """None when the variant can be built; otherwise why not."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    needs = {"lcn": "LocalContrastNorm", "dn": "DivisiveNorm", "gdn": "GDN"}.get(variant)
    if needs and _family(needs) is None:
        return f"localnorm.{needs} is not available in localnorm {localnorm.__version__}"
    return None


def make_norm(variant: str, channels: int) -> nn.Module:
    """The normalization layer of ``variant`` for ``channels`` feature maps."""
    reason = why_not(variant)
    if reason:
        raise ValueError(f"variant {variant!r} not available: {reason}")
    if variant == "none":
        return nn.Identity()
    if variant == "lrn_across":
        return localnorm.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    if variant == "lrn_caffe":
        return localnorm.LocalResponseNorm(5, alpha=1.0, beta=0.75, k=1.0)
    if variant == "lrn_within":
        return localnorm.LocalResponseNorm(3, alpha=5e-5, beta=0.75, k=1.0, region="within")
    if variant == "lcn":
        return _family("LocalContrastNorm")(size=3)  # type: ignore[misc]
    if variant == "dn":
        return _family("DivisiveNorm")(channels)  # type: ignore[misc]
    if variant == "gdn":
        return _family("GDN")(channels)  # type: ignore[misc]
    if variant == "bn":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(1, channels)


class SmallCNN(nn.Module):
    """Three conv layers with a normalization slot after each of the first two pools.

    Shape:
        Input (N, C, H, W) with H = W = ``size``; output (N, ``classes``) logits.
    """

    def __init__(self, in_channels: int, size: int, classes: int, variant: str,
                 width: int = 32) -> None:
        super().__init__()
        small = size <= 16
        k = 3 if small else 5
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, k, padding=k // 2), nn.ReLU(),
            nn.MaxPool2d(2) if small else nn.MaxPool2d(3, 2, padding=1),
            make_norm(variant, width),
            nn.Conv2d(width, width, k, padding=k // 2), nn.ReLU(),
            nn.AvgPool2d(2) if small else nn.AvgPool2d(3, 2, padding=1),
            make_norm(variant, width),
            nn.Conv2d(width, 2 * width, k, padding=k // 2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def norm_layers(self) -> list[nn.Module]:
        return [self.features[3], self.features[7]]
