"""NumPy float64 references (forward and VJP) for every operator: the ground truth.

This package imports NumPy only.
"""

from .lrn import lrn_forward, lrn_scale, lrn_vjp, window_sum

__all__ = ["lrn_forward", "lrn_scale", "lrn_vjp", "window_sum"]
