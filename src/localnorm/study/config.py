"""Budgets of ``localnorm study``: how many seeds, epochs, steps and images each run spends.

``quick`` is sized to finish in about 2-3 minutes on 2 CPU cores with the default digits data;
``full`` spends roughly 10x that for tighter intervals; ``smoke`` (hidden from ``--help``) is for
tests and checks only that every piece runs end to end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Budget:
    """Everything that sets how long a study takes (and nothing that changes what it measures)."""

    name: str
    seeds: int          # training seeds per CNN variant (experiments 3 and 4)
    epochs: int         # epochs per CNN run
    max_train: int      # cap on training images (a fixed random subset beyond it)
    max_test: int       # cap on test images
    gd_steps: int       # full-batch gradient-descent steps per learning rate (experiment 2)
    lr_points: int      # learning rates on the log grid 1e-3 .. 1e3 (experiment 2)
    images: int         # scikit-image sample images used (experiment 5)
    image_size: int     # side of the centre crop taken from each image (experiment 5)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BUDGETS: dict[str, Budget] = {
    "smoke": Budget("smoke", seeds=2, epochs=2, max_train=256, max_test=128, gd_steps=20,
                    lr_points=7, images=2, image_size=64),
    "quick": Budget("quick", seeds=5, epochs=15, max_train=4000, max_test=2000, gd_steps=150,
                    lr_points=13, images=10, image_size=256),
    "full": Budget("full", seeds=10, epochs=40, max_train=50000, max_test=10000, gd_steps=500,
                   lr_points=25, images=10, image_size=384),
}


def budget(name: str, seeds: int | None = None) -> Budget:
    """The named budget, with ``seeds`` overridden when given (>= 2, for an interval)."""
    if name not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}, got {name!r}")
    b = BUDGETS[name]
    if seeds is not None:
        if seeds < 2:
            raise ValueError(f"--seeds must be >= 2 (a 95% interval needs two runs), got {seeds}")
        b = replace(b, seeds=seeds)
    return b


# Training recipe shared by every CNN variant: one fixed recipe, not tuned per variant.
TRAIN = {"batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "width": 32}
