"""Official-checkpoint compatibility: every shared fixture reproduced through camdeblur.load_model,
wrong-architecture errors, and .pth -> safetensors -> .pth conversion round trips."""

from __future__ import annotations

import pytest
import torch

import camdeblur
from camdeblur.errors import CamdeblurError

FIXTURES = ["nafnet_tiny", "nafnet_tiny_local", "restormer_small", "mimounet"]
TOL = 1e-5


def _fixture(shared, name):
    d = torch.load(shared / "fixtures" / "official" / f"{name}.pt", map_location="cpu", weights_only=False)
    return d, shared / "fixtures" / "official" / d["checkpoint_file"]


def _maxerr(out, ref) -> float:
    if isinstance(ref, (list, tuple)):
        assert isinstance(out, (list, tuple)) and len(out) == len(ref)
        for o, r in zip(out, ref):
            assert o.shape == r.shape
        return max((o - r).abs().max().item() for o, r in zip(out, ref))
    assert out.shape == ref.shape
    return (out - ref).abs().max().item()


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_reproduced(shared, name):
    d, ckpt = _fixture(shared, name)
    model = camdeblur.load_model(d["arch"], weights=ckpt, **d["config"])
    assert not model.training
    with torch.inference_mode():
        assert _maxerr(model(d["input"]), d["output"]) < TOL
        if d.get("output_odd") is not None:
            assert _maxerr(model(d["input_odd"]), d["output_odd"]) < TOL
        if hasattr(model, "fast"):  # the opt-in fast path stays within the fixture tolerance too
            model.fast()
            assert _maxerr(model(d["input"]), d["output"]) < TOL


def test_local_converter_differs_from_plain_nafnet(shared):
    """TLC must actually change 64x400 outputs (the fixture pins the local statistics)."""
    d, ckpt = _fixture(shared, "nafnet_tiny_local")
    cfg = {k: v for k, v in d["config"].items() if k not in ("train_size", "fast_imp")}
    plain = camdeblur.load_model("NAFNet", weights=ckpt, **cfg)
    with torch.inference_mode():
        diff = _maxerr(plain(d["input"]), d["output"])
    assert diff > 1e-4


@pytest.mark.parametrize("name", ["restormer_small"])
def test_official_key_wrapper_and_module_prefix(shared, name, tmp_path):
    d, ckpt = _fixture(shared, name)
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)[d["checkpoint_key"]]
    path = tmp_path / "ddp.pth"
    torch.save({"params_ema": {"module." + k: v for k, v in sd.items()}, "iter": torch.tensor(3)}, path)
    model = camdeblur.load_model(d["arch"], weights=path, **d["config"])
    with torch.inference_mode():
        assert _maxerr(model(d["input"]), d["output"]) < TOL


def test_wrong_architecture_is_one_line_error(shared):
    d, ckpt = _fixture(shared, "restormer_small")
    with pytest.raises(CamdeblurError) as exc:
        camdeblur.load_model("NAFNet", weights=ckpt, width=16, enc_blk_nums=[1, 1, 1, 1], dec_blk_nums=[1, 1, 1, 1])
    msg = exc.value.line()
    assert "\n" not in msg and "missing" in msg and "unexpected" in msg and "restormer_small_ckpt.pth" in msg
    d, ckpt = _fixture(shared, "nafnet_tiny")
    with pytest.raises(CamdeblurError, match="mis-shaped"):  # right arch, wrong width
        camdeblur.load_model("NAFNet", weights=ckpt, width=32, enc_blk_nums=[1, 1, 1, 1], dec_blk_nums=[1, 1, 1, 1])


@pytest.mark.parametrize("name", ["nafnet_tiny"])
def test_convert_to_safetensors_and_back(shared, name, tmp_path):
    from camdeblur.cli.main import main

    d, ckpt = _fixture(shared, name)
    st = tmp_path / "m.safetensors"
    sets = [f"--set={k}={v}" for k, v in d["config"].items()]
    assert main(["convert", str(ckpt), str(st), "--arch", d["arch"], *sets]) == 0
    back = tmp_path / "official.pth"
    assert main(["convert", str(st), str(back)]) == 0
    with torch.inference_mode():
        m1 = camdeblur.load_model(weights=st)  # no arch: the file names it
        assert _maxerr(m1(d["input"]), d["output"]) < TOL
        raw = torch.load(back, map_location="cpu", weights_only=True)
        assert list(raw) == [d["checkpoint_key"]]  # official wrapper restored
        ref_sd = torch.load(ckpt, map_location="cpu", weights_only=True)[d["checkpoint_key"]]
        assert raw[d["checkpoint_key"]].keys() == ref_sd.keys()
        assert all(torch.equal(raw[d["checkpoint_key"]][k], ref_sd[k]) for k in ref_sd)
    # never overwrite without asking; a wrong arch fails before writing
    assert main(["convert", str(ckpt), str(st), "--arch", d["arch"], *sets]) == 2
    assert main(["convert", str(ckpt), str(tmp_path / "x.safetensors"), "--arch", "Restormer"]) == 2
    assert not (tmp_path / "x.safetensors").exists()
