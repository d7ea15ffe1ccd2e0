"""`localnorm study` under torchrun: 2 CPU processes, DistributedDataParallel over gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from localnorm.study import config, dist, train
from localnorm.study.data import load


@pytest.mark.slow
def test_torchrun_two_ranks_train_the_same_model(tmp_path: Path) -> None:
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "localnorm", "study", "--smoke", "--variants", "none,lrn_across",
           "--experiments", "generalization", "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["world_size"] == 2 and res["meta"]["jobs"] == 1
    runs = res["runs"]
    assert len(runs) == 2 * config.BUDGETS["smoke"].seeds
    # Both ranks end every run with bit-identical weights.
    assert all(r["ranks_agree"] and r["world_size"] == 2 for r in runs)
    # Two ranks on half batches each = one process on the whole batch (up to rounding).
    b = config.BUDGETS["smoke"]
    ds = load("digits", b.max_train, b.max_test)
    ref = train.train_run(ds, train.RunSpec("none", 0, b.epochs))
    ddp = next(r for r in runs if r["variant"] == "none" and r["seed"] == 0)
    np.testing.assert_allclose(ddp["train_loss"], ref["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(ddp["test_acc"], ref["test_acc"], atol=1.5 / b.max_test)


def test_single_process_world() -> None:
    assert dist.world() == (1, 0) and dist.is_main()
    assert dist.sum_over_ranks(1.0, 2.0) == [1.0, 2.0]
    assert dist.gather_object("x") == ["x"]


def test_bad_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        dist.env_world_size()
