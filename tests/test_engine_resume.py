"""Exact resume, atomic checkpoints, run-folder contents and weight export of the Trainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.engine.checkpoint import load_checkpoint
from camdeblur.engine.config import apply_overrides
from camdeblur.engine.trainer import StepSampler, TrainConfig, Trainer
from camdeblur.errors import CamdeblurError
from camdeblur.nets import registry


class CropSet(torch.utils.data.Dataset):
    """Random 8x8 crops of fixed 16x16 images; the crop comes from the seed set by ``reseed``."""

    def __init__(self, n: int = 10, seed: int = 0):
        g = torch.Generator().manual_seed(123)
        self.sharp = torch.rand(n, 3, 16, 16, generator=g)
        self.blur = F.avg_pool2d(F.pad(self.sharp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.sharp)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __getitem__(self, i):
        y, x = self.rng.integers(0, 9, size=2)
        return {"blur": self.blur[i, :, y:y + 8, x:x + 8], "sharp": self.sharp[i, :, y:y + 8, x:x + 8], "name": str(i)}


class Tiny(nn.Module):
    def __init__(self, width: int = 6):
        super().__init__()
        self.a = nn.Conv2d(3, width, 3, padding=1)
        self.b = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x):
        return x + self.b(torch.relu(self.a(x)))


@pytest.fixture
def tiny_arch():
    registry._ensure_loaded()
    registry.register_model(Tiny, name="_tiny_engine_test")
    yield "_tiny_engine_test"
    registry._FACTORIES.pop("_tiny_engine_test", None)
    registry._DEFAULTS.pop("_tiny_engine_test", None)


def noisy_step(tr: Trainer, batch, step):
    """Uses torch *and* numpy global RNGs, so the RNG states must be restored for equality."""
    net = tr.modules["net"]
    x = batch["blur"] + 0.01 * torch.randn_like(batch["blur"]) * float(np.random.rand())
    loss = F.l1_loss(net(x), batch["sharp"])
    tr.optimize("main", loss)
    return {"l1": loss.detach()}


def make(run_dir, steps=12, resume=False, arch="_tiny_engine_test", **over):
    cfg = apply_overrides(TrainConfig(), [f"steps={steps}", "batch_size=3", "device=cpu", "log_every=1", "val_every=0",
                                          "ckpt_every=4", "keep_every=6", "optim.grad_clip=0.5", "sched.name=cosine",
                                          "sched.warmup_steps=3", "ema.enabled=true", "ema.decay=0.9",
                                          *[f"{k}={v}" for k, v in over.items()]])
    torch.manual_seed(0)
    np.random.seed(0)
    net = registry.create_model(arch, width=5)
    return Trainer(cfg, {"net": net}, CropSet(), step_fn=noisy_step, run_dir=run_dir, resume=resume)


def _metrics(path):
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


def test_resume_is_bit_identical(tmp_path, tiny_arch):
    straight = make(tmp_path / "a")
    straight.fit()

    first = make(tmp_path / "b")
    first.fit(stop_at=6)                                    # "killed" after step 6
    assert first.step == 6 and not (tmp_path / "b" / "model.safetensors").exists()
    # scramble the global RNGs, as a new process would have them
    torch.manual_seed(999)
    np.random.seed(999)
    second = make(tmp_path / "b", resume=True)
    assert second.step == 6 and second.resumed_from == tmp_path / "b" / "checkpoints" / "last.pt"
    second.fit()

    for k, v in straight.unwrap().state_dict().items():
        assert torch.equal(v, second.unwrap().state_dict()[k]), k
    for k, v in straight.eval_model().state_dict().items():
        assert torch.equal(v, second.eval_model().state_dict()[k]), f"ema {k}"
    sa, sb = straight.optimizers["main"].state_dict(), second.optimizers["main"].state_dict()
    for i in sa["state"]:
        assert torch.equal(sa["state"][i]["exp_avg_sq"], sb["state"][i]["exp_avg_sq"])
    assert straight.lr() == second.lr()
    # the JSONL log of the resumed run equals the straight run (rows after the kill point re-logged once)
    assert _metrics(tmp_path / "a" / "metrics.jsonl") == _metrics(tmp_path / "b" / "metrics.jsonl")
    assert "# resumed" in (tmp_path / "b" / "command.txt").read_text()
    # a different step count diverges (guards against a test that cannot fail)
    other = make(tmp_path / "c", steps=12, seed=1)
    other.fit()
    assert not torch.equal(other.unwrap().a.weight, straight.unwrap().a.weight)


def test_run_folder_contents_and_export(tmp_path, tiny_arch):
    tr = make(tmp_path / "r", steps=12)
    summary = tr.fit()
    run = tmp_path / "r"
    assert (run / "config.yaml").is_file() and "steps: 12" in (run / "config.yaml").read_text()
    assert (run / "command.txt").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13)) and all({"l1", "lr", "time"} <= set(r) for r in rows)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt", "step_000006.pt", "step_000012.pt"]
    # plain torch.load(weights_only=True) works and carries what resume needs
    ck = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] == 12 and ck["config"]["steps"] == 12 and {"python", "numpy", "torch"} <= set(ck["rng"][0])
    assert ck["models"]["net"] == {"arch": tiny_arch, "config": {"width": 5}}
    assert load_checkpoint(run / "checkpoints" / "step_000006.pt")["step"] == 6
    # exported EMA weights rebuild the network from the file alone
    assert summary["exported"] == [str(run / "model.safetensors")]
    model = registry.load_model(weights=run / "model.safetensors")
    x = torch.rand(1, 3, 9, 7)
    assert torch.equal(model(x), tr.eval_model().eval()(x))
    assert not torch.equal(tr.eval_model().a.weight, tr.unwrap().a.weight)  # EMA differs from raw weights


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, tiny_arch, monkeypatch):
    tr = make(tmp_path / "k", steps=12)
    tr.fit(stop_at=4)
    last = tmp_path / "k" / "checkpoints" / "last.pt"
    before = last.read_bytes()
    real_save = torch.save

    def dying_save(obj, f, *a, **kw):
        real_save(obj, f, *a, **kw)          # write the whole file ...
        with open(f, "r+b") as fh:          # ... then the "kill" truncates it mid-way
            fh.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        tr.fit(stop_at=8)                    # dies while writing last.pt at step 8
    monkeypatch.setattr(torch, "save", real_save)
    assert last.read_bytes() == before
    assert [p.name for p in last.parent.iterdir()] == ["last.pt"]  # no temp file left behind
    assert load_checkpoint(last)["step"] == 4
    assert make(tmp_path / "k", resume=True).step == 4


def test_broken_or_foreign_checkpoint_is_one_line_error(tmp_path, tiny_arch):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CamdeblurError, match="not a readable training checkpoint"):
        load_checkpoint(bad)
    torch.save({"a": torch.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(CamdeblurError, match="not a camdeblur training checkpoint"):
        load_checkpoint(tmp_path / "w.pt")
    tr = make(tmp_path / "m", steps=4)
    tr.fit()
    with pytest.raises(CamdeblurError, match="mis-shaped"):   # resume into a different architecture size
        cfg = apply_overrides(TrainConfig(), ["steps=4", "batch_size=3", "device=cpu"])
        Trainer(cfg, {"net": registry.create_model(tiny_arch, width=7)}, CropSet(), step_fn=noisy_step,
                run_dir=tmp_path / "m", resume=True)


def test_step_sampler_shards_the_global_batch():
    full = StepSampler(10, 4, seed=3)
    r0 = StepSampler(10, 4, seed=3, rank=0, world_size=2)
    r1 = StepSampler(10, 4, seed=3, rank=1, world_size=2)
    for step in range(7):   # crosses epoch boundaries (10 samples, 4 per step)
        assert r0.batch(step) + r1.batch(step) == full.batch(step)
    # every epoch visits each sample exactly once
    flat = [i for s in range(5) for i, _ in full.batch(s)]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10)) and flat[:10] != flat[10:20]
    resumed = iter(StepSampler(10, 4, seed=3, start_step=5))
    assert next(resumed) == full.batch(5)
    with pytest.raises(CamdeblurError, match="not divisible"):
        StepSampler(10, 3, world_size=2)


def test_default_step_learns_and_validates_with_ema(tmp_path, tiny_arch):
    pytest.importorskip("camdeblur.eval.metrics")
    cfg = apply_overrides(TrainConfig(), ["steps=30", "batch_size=4", "device=cpu", "val_every=15", "log_every=10",
                                          "optim.lr=3e-3", "ema.enabled=true", "ema.decay=0.5"])
    torch.manual_seed(0)
    tr = Trainer(cfg, registry.create_model(tiny_arch), CropSet(), loss_fn=F.l1_loss, val_data=CropSet(4, seed=1),
                 run_dir=tmp_path / "v")
    before = tr.validate()
    out = tr.fit()
    rows = [json.loads(line) for line in (tmp_path / "v" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_psnr" in r]
    assert [r["step"] for r in vals] == [15, 30]
    assert out["val"]["psnr"] > before["psnr"] + 0.5 and out["val"]["psnr_input"] == pytest.approx(before["psnr_input"])
    assert (tmp_path / "v" / "checkpoints" / "best.pt").is_file() and out["best"] == max(r["val_psnr"] for r in vals)


def test_progress_bar_only_on_a_tty(tmp_path, tiny_arch, capsys, monkeypatch):
    make(None, steps=3).fit()
    assert capsys.readouterr().err == ""             # not a TTY: no progress bar noise in logs
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    make(None, steps=3).fit()
    assert "train" in capsys.readouterr().err        # tqdm bar on a TTY


def test_divergence_is_reported_at_the_log_step(tiny_arch):
    def nan_step(tr, batch, step):
        noisy_step(tr, batch, step)
        return {"l1": torch.tensor(float("nan") if step == 2 else 1.0)}

    cfg = apply_overrides(TrainConfig(), ["steps=6", "batch_size=3", "device=cpu", "log_every=3", "val_every=0"])
    tr = Trainer(cfg, Tiny(), CropSet(), step_fn=nan_step)
    with pytest.raises(CamdeblurError, match="diverged: loss 'l1' is nan at step 3"):
        tr.fit()


def test_ema_warmup_follows_early_weights():
    from camdeblur.engine.optim import EMA

    net = nn.Linear(2, 2)
    ema = EMA(net, decay=0.999)
    plain = EMA(net, decay=0.999, warmup=False)
    with torch.no_grad():
        net.weight.add_(1.0)
    for step in range(1, 101):
        ema.update(net, step)
        plain.update(net, step)
    # with warm-up the average has (almost) reached the new weights; without it, 0.999**100 of the old remains
    assert (ema.module.weight - net.weight).abs().max() < 1e-3
    assert (plain.module.weight - net.weight).abs().min() > 0.85


def test_a_finished_run_is_never_overwritten(tmp_path, tiny_arch):
    make(tmp_path / "o", steps=4).fit()
    before = (tmp_path / "o" / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(CamdeblurError, match="already holds a run"):
        make(tmp_path / "o", steps=4)
    assert (tmp_path / "o" / "checkpoints" / "last.pt").read_bytes() == before


def test_a_held_optimizer_keeps_its_schedule_without_a_warning(recwarn):
    """Two optimizers, "b" held for the first 3 steps (a warm-up of "a" only): "b"'s schedule follows the
    global step all the same, and torch's scheduler-order warning is not raised for it."""
    def step(tr, batch, i):
        loss = F.l1_loss(tr.modules["a"](batch["blur"]), batch["sharp"])
        tr.optimize("A", loss)
        if i >= 3:
            tr.optimize("B", F.l1_loss(tr.modules["b"](batch["blur"]), batch["sharp"]))
        return {"l1": loss.detach()}

    cfg = apply_overrides(TrainConfig(), ["steps=6", "batch_size=2", "device=cpu", "log_every=0", "val_every=0",
                                          "sched.name=cosine", "optim.lr=1e-2"])
    tr = Trainer(cfg, {"a": Tiny(), "b": Tiny()}, CropSet(), step_fn=step, optimizers={"A": ["a"], "B": ["b"]})
    tr.fit(stop_at=4)
    assert tr.lr("B") == pytest.approx(tr.lr("A")) and tr.lr("B") < 1e-2
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]
