"""On-the-fly datasets, photo splits, sequences (BluRef protocol), default photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.sim import (SimulatedPairs, SimulatedSequences, SimulatedUnpaired, load_named_photos, load_photos,
                           render_sequence, split_photos)
from camdeblur.sim.sequences import long_pattern, reference_offsets


def test_default_photos_are_bundled_colour_photographs():
    named = load_named_photos()
    assert len(named) >= 6
    for name, a in named:
        assert name.startswith("skimage-") and a.dtype == np.float32 and a.ndim == 3 and a.shape[2] == 3
        assert 0 <= a.min() and a.max() <= 1 and min(a.shape[:2]) >= 256 and a.std() > 0.05
    assert len(load_photos()) == len(named)


def test_photos_from_folder_are_capped(photos, tmp_path):
    from camdeblur.sim import load_named_photos

    big = max(photos[:6], key=lambda p: p.stat().st_size)
    named = load_named_photos([big], max_side=300)
    assert max(named[0][1].shape[:2]) == 300 and named[0][0] == big.stem
    with pytest.raises(CamdeblurError, match="not found"):
        load_photos(tmp_path / "nope")


def test_simulated_pairs_items_are_deterministic_and_batched_equal():
    d = SimulatedPairs("phone", size=32, length=6, seed=3)
    a, b = d[4], SimulatedPairs("phone", size=32, length=6, seed=3)[4]
    assert set(a) == {"blur", "sharp", "name", "meta"}
    assert a["blur"].shape == (3, 32, 32) and a["blur"].dtype == torch.float32
    assert torch.equal(a["blur"], b["blur"]) and a["name"] == b["name"]
    batch = d.batch([4, 0, 2])
    assert torch.equal(batch["blur"][0], a["blur"]) and torch.equal(batch["sharp"][0], a["sharp"])
    assert not torch.equal(d[0]["blur"], SimulatedPairs("phone", size=32, length=6, seed=4)[0]["blur"])
    with pytest.raises(IndexError):
        d[6]
    loader = torch.utils.data.DataLoader(d, batch_size=3)  # default collate: flat meta
    first = next(iter(loader))
    assert first["blur"].shape == (3, 3, 32, 32) and torch.equal(first["blur"][2], d[2]["blur"])
    assert first["meta"]["camera"] == ["phone"] * 3 and first["meta"]["blur_length_px"].shape == (3,)
    full = SimulatedPairs("phone", size=32, length=6, seed=3, full_meta=True)[4]["meta"]
    assert len(full["homographies"]) == full["subframes"] and full["photo"] == a["meta"]["photo"]


def test_split_photos_disjoint_and_complete():
    names = [f"p{i}" for i in range(10)]
    s = split_photos(names, {"train": 0.8, "test": 0.2}, seed=1)
    assert sorted(s["train"] + s["test"]) == list(range(10)) and len(s["test"]) == 2
    assert s == split_photos(names, {"train": 0.8, "test": 0.2}, seed=1)
    with pytest.raises(CamdeblurError, match="cannot be split"):
        split_photos(["a"], {"B": 0.6, "S": 0.4})


def test_unpaired_blur_and_sharp_sets_never_share_a_photo():
    B = SimulatedUnpaired("gopro", size=32, length=10, part="blur", fraction=0.6)
    S = SimulatedUnpaired("gopro", size=32, length=10, part="sharp", fraction=0.6)
    assert not set(B.names) & set(S.names)
    assert len(B.names) + len(S.names) == len(load_photos())
    assert len(B.names) > len(S.names)
    assert set(B[0]) == {"blur", "name", "meta"} and set(S[0]) == {"sharp", "name", "meta"}
    used_b = {B[i]["meta"]["photo"] for i in range(len(B))}
    used_s = {S[i]["meta"]["photo"] for i in range(len(S))}
    assert used_b <= set(B.names) and used_s <= set(S.names) and not used_b & used_s


def test_sequence_protocol_references_are_short_frames_never_own_gt():
    assert reference_offsets(1, 6) == [-3, -2, -1, 1, 2, 3]
    pat = long_pattern(12, 1, 6)
    for t, is_long in enumerate(pat):
        if is_long:
            assert all(not pat[t + o] for o in reference_offsets(1, 6) if 0 <= t + o < 12)
    seq = render_sequence(load_photos()[4], "gopro", seed=2, size=48, num_frames=9, delta=1, num_refs=6)
    frames, gt = seq["frames"], seq["sharp"]
    assert frames.shape == (9, 3, 48, 48) and seq["long"] == pat[:9]

    def psnr(a, b):
        return (10 * torch.log10(1 / ((a - b) ** 2).mean())).item()

    longs = [psnr(frames[k], gt[k]) for k in range(9) if seq["long"][k]]
    shorts = [psnr(frames[k], gt[k]) for k in range(9) if not seq["long"][k]]
    assert max(longs) < min(shorts) - 3  # long exposures are blurry, short ones equal their ground truth
    assert min(shorts) > 60  # gopro is noise-free: a short exposure is the ground truth
    # the camera moves along the sequence: consecutive ground truths differ
    assert psnr(gt[0], gt[4]) < 35


def test_simulated_sequences_items():
    d = SimulatedSequences("rsblur", size=32, length=3, seed=0, delta=2, num_refs=4)
    it = d[1]
    assert it["blur"].shape == (3, 32, 32) and it["refs"].shape == (4, 3, 32, 32)
    assert it["offsets"].tolist() == [-3, -2, 2, 3]
    frames = SimulatedSequences("rsblur", size=32, length=3, seed=0, delta=2, num_refs=4, full_meta=True)[1]["meta"]["frames"]
    assert frames[0]["long_exposure"] and not any(f["long_exposure"] for f in frames[1:])
    assert all(f["frame"] != 0 for f in frames[1:])  # never the centre's own frame
    for r in it["refs"]:
        assert not torch.equal(r, it["sharp"])
    assert torch.equal(d[1]["refs"], it["refs"])
    batch = next(iter(torch.utils.data.DataLoader(d, batch_size=2)))
    assert batch["refs"].shape == (2, 4, 3, 32, 32) and batch["offsets"].shape == (2, 4)
    for part in ("blur", "sharp"):
        u = SimulatedUnpaired("phone", size=32, length=4, part=part)
        assert next(iter(torch.utils.data.DataLoader(u, batch_size=2)))[part].shape == (2, 3, 32, 32)


def test_exposed_by_renders_the_same_windows_with_another_camera():
    """``batch(..., exposed_by=K)`` = the same source windows exposed by camera K (a perfect translator's
    output): with no moving objects and no boosted highlights the sharp frames agree, the blur is K's."""
    import dataclasses

    from camdeblur.eval.metrics import psnr
    from camdeblur.sim import get_camera

    phone = dataclasses.replace(get_camera("phone"), object_prob=0.0, highlight_prob=0.0)
    gopro = dataclasses.replace(get_camera("gopro"), object_prob=0.0)
    ds = SimulatedPairs(phone, size=48, length=6, seed=3)
    own, k = ds.batch(range(6)), ds.batch(range(6), exposed_by=gopro)
    assert psnr(k["sharp"], own["sharp"]).min() > 45          # same windows (CRF round trip only)
    assert psnr(k["blur"], own["blur"]).mean() < 35           # another exposure
    assert (psnr(k["blur"], k["sharp"]) > psnr(own["blur"], own["sharp"])).all()   # gopro blurs less, no noise
    assert all(m["exposed_by"] == "gopro" for m in k["meta"])
    again = ds.batch([4], exposed_by=gopro)
    assert torch.equal(again["blur"][0], k["blur"][4])        # item i depends only on (seed, i)
    with pytest.raises(CamdeblurError, match="larger source window"):
        SimulatedPairs(gopro, size=48, length=1).batch([0], exposed_by=phone)
