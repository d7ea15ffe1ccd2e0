"""Shared test configuration: one tolerance table, seeded inputs, backend forcing."""

from __future__ import annotations

import os

import torch

# CI has no GPU: every Triton kernel runs in interpreter mode on CPU. Must be set before
# triton.jit decorates a kernel, i.e. before localnorm.backends.triton_lrn is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Import triton before anything imports tensorflow: both bundle LLVM, and loading triton's
# after tensorflow's aborts the process ("Option ... registered more than once"). torch.compile
# imports triton, so any test order could trigger it.
import triton  # noqa: E402,F401  (CI installs triton; a missing one fails here, loudly)
