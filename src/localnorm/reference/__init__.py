"""NumPy float64 references (forward and VJP) for every operator: the ground truth.

This package imports NumPy only.
"""

from .contrast import gaussian_window, lcn_forward, lcn_vjp, v1_forward, v1_vjp
from .divisive import divisive_forward, divisive_vjp
from .gdn import gdn_forward, gdn_vjp
from .lrn import lrn_forward, lrn_scale, lrn_vjp, window_sum

__all__ = [
    "divisive_forward",
    "divisive_vjp",
    "gaussian_window",
    "gdn_forward",
    "gdn_vjp",
    "lcn_forward",
    "lcn_vjp",
    "lrn_forward",
    "lrn_scale",
    "lrn_vjp",
    "v1_forward",
    "v1_vjp",
    "window_sum",
]
