"""The divisive-normalization family: local contrast normalization (Jarrett 2009, Torch7),
Pinto's V1-like normalization, divisive normalization (Ren et al. 2017) and GDN / IGDN
(Balle et al. 2016). Composite PyTorch implementations checked against the NumPy float64
references in :mod:`localnorm.reference`.
"""

from .divisive import divisive_l1_penalty, divisive_norm
from .gdn import LowerBound, NonNegativeParametrizer, gamma_from_tensorflow_compression, gdn
from .lcn import local_contrast_norm, v1_norm
from .modules import GDN, DivisiveNorm, LocalContrastNorm, V1Norm

__all__ = [
    "GDN",
    "DivisiveNorm",
    "LocalContrastNorm",
    "LowerBound",
    "NonNegativeParametrizer",
    "V1Norm",
    "divisive_l1_penalty",
    "divisive_norm",
    "gamma_from_tensorflow_compression",
    "gdn",
    "local_contrast_norm",
    "v1_norm",
]
