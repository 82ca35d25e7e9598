"""Two CPU processes under ``torchrun`` (gloo) train the same weights as one process on the same global batch.

This file is also the script torchrun runs: ``torchrun --nproc_per_node 2 tests/test_engine_ddp.py OUT_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

STEPS = 6
OVERRIDES = [f"steps={STEPS}", "batch_size=4", "device=cpu", "log_every=2", "val_every=0", "ckpt_every=3",
             "optim.grad_clip=1.0", "sched.warmup_steps=2", "ema.enabled=true", "ema.decay=0.8"]


class Crops(torch.utils.data.Dataset):
    """Random 8x8 crops chosen by the per-sample seed the trainer sets (rank-independent)."""

    def __init__(self, n: int = 8):
        g = torch.Generator().manual_seed(7)
        self.sharp = torch.rand(n, 3, 14, 14, generator=g)
        self.blur = F.avg_pool2d(F.pad(self.sharp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        self.gen = torch.Generator()

    def __len__(self):
        return len(self.sharp)

    def reseed(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)

    def __getitem__(self, i):
        y, x = torch.randint(0, 7, (2,), generator=self.gen).tolist()
        return {"blur": self.blur[i, :, y:y + 8, x:x + 8], "sharp": self.sharp[i, :, y:y + 8, x:x + 8]}


def build_and_train(out: Path):
    from camdeblur.engine import distributed
    from camdeblur.engine.config import apply_overrides
    from camdeblur.engine.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    if distributed.env_info().rank != 0:   # DDP must broadcast rank 0's initial weights
        for p in net.parameters():
            p.data.normal_()
    cfg = apply_overrides(TrainConfig(), OVERRIDES)
    tr = Trainer(cfg, {"net": net}, Crops(), loss_fn=F.l1_loss, run_dir=out)
    tr.fit()
    return tr


def test_two_process_gloo_matches_one_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           __file__, str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    single = build_and_train(tmp_path / "one")
    ddp = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=True)
    assert ddp["world_size"] == 2 and ddp["step"] == STEPS and len(ddp["rng"]) == 2
    changed = False
    for k, v in single.unwrap().state_dict().items():
        torch.testing.assert_close(ddp["modules"]["net"][k], v, rtol=1e-5, atol=1e-6, msg=k)
        torch.testing.assert_close(ddp["ema"]["net"][k], single.eval_model().state_dict()[k], rtol=1e-5, atol=1e-6)
    for a, b in zip(ddp["optimizers"]["main"]["state"].values(), single.optimizers["main"].state_dict()["state"].values()):
        torch.testing.assert_close(a["exp_avg"], b["exp_avg"], rtol=1e-4, atol=1e-7)
    torch.manual_seed(0)
    init = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).state_dict()
    changed = any(not torch.allclose(init[k], v, atol=1e-4) for k, v in ddp["modules"]["net"].items())
    assert changed, "training did not move the weights"
    # rank 0 alone wrote the run folder; the logged loss is the mean over both ranks = the global-batch loss
    rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    for r, s in zip(rows, ref):
        assert abs(r["loss"] - s["loss"]) < 1e-5 and r["lr"] == s["lr"]


if __name__ == "__main__":
    build_and_train(Path(sys.argv[1]))
    from camdeblur.engine import distributed

    distributed.cleanup()
