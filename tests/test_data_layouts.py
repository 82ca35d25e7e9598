"""Dataset layouts (folders, GoPro, REDS, unpaired, sequences), joint crops/flips, seeding, layout errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from camdeblur.data import (
    Augment,
    PairedFolders,
    PairedImages,
    SequenceFolder,
    UnpairedImages,
    UnpairedPairs,
    find_pairs,
    open_paired,
    paired_random_crop,
    random_flip_rot,
    reference_offsets,
)
from camdeblur.errors import CamdeblurError
from camdeblur.io import write_image

H, W = 24, 40


def coords(h=H, w=W, tag=0) -> np.ndarray:
    """uint8 image whose pixels encode their own position: R = 4y, G = 4x, B = tag."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([4 * y, 4 * x, np.full_like(y, tag)], axis=2).astype(np.uint8)


def write_pair(blur_path, sharp_path, tag=0, h=H, w=W):
    sharp = coords(h, w, tag)
    write_image(sharp_path, sharp)
    write_image(blur_path, 255 - sharp)  # blur = 1 - sharp pixel by pixel: any misalignment shows


def assert_aligned(sample):
    torch.testing.assert_close(sample["blur"], 1 - sample["sharp"], atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------- paired layouts
def test_folders_layout_natural_order_and_contract(tmp_path):
    for i, n in enumerate(["img10", "img2", "img1"]):
        write_pair(tmp_path / "blur" / f"{n}.png", tmp_path / "sharp" / f"{n}.png", tag=i)
    ds = open_paired(tmp_path)
    assert ds.layout == "folders" and len(ds) == 3
    assert ds.names == ["img1", "img2", "img10"]
    s = ds[0]
    assert set(s) == {"blur", "sharp", "name", "meta"}
    assert s["blur"].dtype == torch.float32 and s["blur"].shape == (3, H, W)
    assert s["name"] == "img1" and s["meta"]["layout"] == "folders"
    torch.testing.assert_close(s["sharp"].permute(1, 2, 0), torch.from_numpy(coords(tag=2)).float() / 255)
    assert_aligned(s)


def test_folders_match_ignores_extension_and_recurses(tmp_path):
    write_pair(tmp_path / "blur" / "a" / "1.png", tmp_path / "sharp" / "a" / "1.tif")
    write_pair(tmp_path / "blur" / "b.png", tmp_path / "sharp" / "b.png")
    ds = PairedFolders(tmp_path / "blur", tmp_path / "sharp")
    assert ds.names == ["a/1", "b"]
    assert_aligned(ds[0])


def test_gopro_layout_with_splits_and_blur_gamma(tmp_path):
    for split, scenes in [("train", ["GOPR0372_07_00", "GOPR0372_07_01"]), ("test", ["GOPR0384_11_00"])]:
        for scene in scenes:
            for f in ["000047", "000048"]:
                write_pair(tmp_path / split / scene / "blur" / f"{f}.png", tmp_path / split / scene / "sharp" / f"{f}.png")
                (tmp_path / split / scene / "blur_gamma").mkdir(exist_ok=True)
    ds = open_paired(tmp_path, split="train")
    assert ds.layout == "gopro"
    assert ds.names == ["GOPR0372_07_00/000047", "GOPR0372_07_00/000048", "GOPR0372_07_01/000047", "GOPR0372_07_01/000048"]
    assert_aligned(ds[3])
    assert open_paired(tmp_path / "test").names == ["GOPR0384_11_00/000047", "GOPR0384_11_00/000048"]
    with pytest.raises(CamdeblurError, match=r"several splits \(test, train\)"):
        open_paired(tmp_path)
    with pytest.raises(CamdeblurError, match="split 'val' not found"):
        open_paired(tmp_path, split="val")
    # blur_gamma chosen explicitly: it is empty here, so every sharp frame is unmatched
    with pytest.raises(CamdeblurError, match=r"2 sharp image\(s\) have no blurry image"):
        open_paired(tmp_path / "test", blur_name="blur_gamma")


def test_gopro_scene_with_only_blur_gamma(tmp_path):
    write_pair(tmp_path / "s1" / "blur_gamma" / "0.png", tmp_path / "s1" / "sharp" / "0.png")
    layout, pairs = find_pairs(tmp_path)
    assert layout == "gopro" and pairs[0].blur.parent.name == "blur_gamma"


def test_gopro_scene_missing_sharp_is_named(tmp_path):
    write_pair(tmp_path / "s1" / "blur" / "0.png", tmp_path / "s1" / "sharp" / "0.png")
    write_image(tmp_path / "s2" / "blur" / "0.png", coords())
    with pytest.raises(CamdeblurError, match="scene 's2' has no sharp/"):
        open_paired(tmp_path)


def test_reds_layout(tmp_path):
    for split in ("train", "val"):
        for seq in ("000", "001"):
            for f in ("00000000", "00000001"):
                write_pair(tmp_path / f"{split}_blur" / seq / f"{f}.png", tmp_path / f"{split}_sharp" / seq / f"{f}.png")
    with pytest.raises(CamdeblurError, match="several REDS splits"):
        open_paired(tmp_path)
    ds = open_paired(tmp_path, split="val")
    assert ds.layout == "reds" and len(ds) == 4
    assert ds.names[:2] == ["000/00000000", "000/00000001"]
    assert ds[0]["meta"]["blur_path"].endswith("val_blur/000/00000000.png")
    assert_aligned(ds[2])
    # a lone split is found without naming it
    only = tmp_path / "only"
    write_pair(only / "train_blur" / "000" / "00000000.png", only / "train_sharp" / "000" / "00000000.png")
    assert open_paired(only).names == ["000/00000000"]


def test_wrong_layout_lists_expected_layouts(tmp_path):
    write_image(tmp_path / "photos" / "a.png", coords())
    (tmp_path / "other").mkdir()
    with pytest.raises(CamdeblurError) as exc:
        open_paired(tmp_path)
    line = exc.value.line()
    assert "no paired dataset layout" in line and "\n" not in line
    assert "<root>/blur/ + <root>/sharp/" in line and "GoPro" in line and "REDS" in line
    with pytest.raises(CamdeblurError, match="dataset folder not found"):
        open_paired(tmp_path / "missing")
    write_image(tmp_path / "half" / "blur" / "a.png", coords())
    with pytest.raises(CamdeblurError, match="found blur/ but no sharp/"):
        open_paired(tmp_path / "half")


def test_unmatched_names_say_how_many_and_which(tmp_path):
    for n in ("img1", "img2", "img3"):
        write_image(tmp_path / "blur" / f"{n}.png", coords())
    for n in ("img1", "img2", "img4", "img5"):
        write_image(tmp_path / "sharp" / f"{n}.png", coords())
    with pytest.raises(CamdeblurError) as exc:
        open_paired(tmp_path)
    line = exc.value.line()
    assert "1 blurry image(s)" in line and "'img3'" in line
    assert "2 sharp image(s)" in line and "'img4'" in line


def test_pair_size_mismatch_and_small_images(tmp_path):
    write_image(tmp_path / "blur" / "a.png", coords(24, 40))
    write_image(tmp_path / "sharp" / "a.png", coords(24, 38))
    with pytest.raises(CamdeblurError, match="differ in size"):
        open_paired(tmp_path)[0]
    write_pair(tmp_path / "b2" / "blur" / "s.png", tmp_path / "b2" / "sharp" / "s.png", h=10, w=12)
    with pytest.raises(CamdeblurError, match=r"12x10 pixels, smaller than the 16x16 crop"):
        open_paired(tmp_path / "b2", crop_size=16)[0]
    s = open_paired(tmp_path / "b2", crop_size=16, pad_mode="reflect")[0]
    assert s["blur"].shape == (3, 16, 16)
    assert_aligned(s)


# ---------------------------------------------------------------------------------- crops, seeding
@pytest.fixture
def pair_root(tmp_path):
    for i in range(3):
        write_pair(tmp_path / "blur" / f"{i}.png", tmp_path / "sharp" / f"{i}.png", tag=i)
    return tmp_path


def test_same_crop_on_blur_and_sharp_is_a_true_window(pair_root):
    ds = open_paired(pair_root, crop_size=(8, 12), seed=1)
    tops = set()
    for _ in range(5):
        for i in range(len(ds)):
            s = ds[i]
            assert s["sharp"].shape == (3, 8, 12)
            assert_aligned(s)
            px = torch.round(s["sharp"] * 255).long()
            top, left = int(px[0, 0, 0]) // 4, int(px[1, 0, 0]) // 4
            expected = torch.from_numpy(coords(tag=i)[top : top + 8, left : left + 12]).permute(2, 0, 1).long()
            assert torch.equal(px, expected)
            tops.add((top, left))
    assert len(tops) > 3  # crops actually move


def test_augment_keeps_alignment_and_uses_all_transforms(pair_root):
    ds = open_paired(pair_root, crop_size=8, augment=True, seed=0)
    corners = set()
    for _ in range(12):
        s = ds[0]
        assert s["blur"].shape == (3, 8, 8)
        assert_aligned(s)
        px = torch.round(s["sharp"] * 255).long()
        # direction in which y (red) and x (green) grow inside the crop reveals the flip/rotation
        corners.add((int(px[0, 0, 1] - px[0, 0, 0]), int(px[1, 0, 1] - px[1, 0, 0])))
    assert len(corners) == 4  # x grows right/left, or y grows right/left (rotated)


def test_determinism_by_seed(pair_root):
    def run(seed):
        ds = open_paired(pair_root, crop_size=8, augment=True, seed=seed)
        return [ds[i % 3]["sharp"] for i in range(9)]

    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_distributed_ranks_draw_different_crops(pair_root, monkeypatch):
    def crops():
        ds = open_paired(pair_root, crop_size=8, augment=True, seed=0)
        return [ds[i]["sharp"] for i in range(3)]

    monkeypatch.delenv("RANK", raising=False)
    single = crops()
    monkeypatch.setenv("RANK", "0")
    assert all(torch.equal(x, y) for x, y in zip(single, crops()))
    monkeypatch.setenv("RANK", "1")
    assert not all(torch.equal(x, y) for x, y in zip(single, crops()))


def test_dataloader_workers_reproducible_and_different(pair_root):
    ds = open_paired(pair_root, crop_size=8, augment=True, seed=0)
    one = PairedImages([ds.pairs[0]] * 4, crop_size=8, augment=True, seed=0)

    def epoch(loader):
        return [batch["sharp"][0] for batch in loader]

    torch.manual_seed(123)
    loader = DataLoader(one, batch_size=1, num_workers=2)
    e1 = epoch(loader)
    e2 = epoch(loader)
    torch.manual_seed(123)
    again = epoch(DataLoader(one, batch_size=1, num_workers=2))
    assert all(torch.equal(x, y) for x, y in zip(e1, again))  # reproducible from the torch seed
    assert not torch.equal(e1[0], e1[1])  # items 0 and 1 come from workers 0 and 1: different streams
    assert not all(torch.equal(x, y) for x, y in zip(e1, e2))  # a new epoch draws new crops
    batch = next(iter(DataLoader(ds, batch_size=3, num_workers=0)))
    assert batch["blur"].shape == (3, 3, 8, 8) and batch["name"] == ["0", "1", "2"]


# ---------------------------------------------------------------------------------- unpaired
def test_unpaired_sets(tmp_path):
    for i in range(6):
        write_image(tmp_path / "B" / f"b{i}.png", 255 - coords(tag=i))
    for i in range(4):
        write_image(tmp_path / "S" / "sub" / f"s{i}.jpg", coords(tag=50 * i))
    S = UnpairedImages(tmp_path / "S", key="sharp", crop_size=8)
    s = S[0]
    assert set(s) == {"sharp", "name", "meta"} and s["sharp"].shape == (3, 8, 8) and s["name"] == "sub/s0"

    def draw(seed):
        ds = UnpairedPairs(tmp_path / "B", tmp_path / "S", crop_size=8, seed=seed)
        return [ds[i] for i in range(len(ds))]

    a, b = draw(0), draw(0)
    assert len(a) == 6 and [x["name"] for x in a] == [f"b{i}" for i in range(6)]
    assert [x["meta"]["sharp_name"] for x in a] == [x["meta"]["sharp_name"] for x in b]
    assert all(torch.equal(x["sharp"], y["sharp"]) for x, y in zip(a, b))
    assert len({x["meta"]["sharp_name"] for x in a + draw(1)}) > 1  # S items are drawn at random
    assert a[0]["meta"]["paired"] is False and a[0]["blur"].shape == (3, 8, 8)
    with pytest.raises(CamdeblurError, match="no images found"):
        (tmp_path / "empty").mkdir()
        UnpairedImages(tmp_path / "empty")


# ---------------------------------------------------------------------------------- sequences
def write_sequence(folder, n, h=16, w=20):
    for k in range(n):
        write_image(folder / f"{k}.png", coords(h, w, tag=10 * k))  # frame index in the blue channel


def frame_index(t):
    return int(torch.round(t[2, 0, 0] * 255)) // 10


def test_reference_offsets_follow_bluref_protocol():
    assert reference_offsets(1, 6) == [-3, -2, -1, 1, 2, 3]
    assert reference_offsets(10, 2) == [-10, 10]
    assert reference_offsets(20, 4) == [-21, -20, 20, 21]
    with pytest.raises(ValueError):
        reference_offsets(1, 3)


def test_sequence_folder_centre_and_references(tmp_path):
    write_sequence(tmp_path / "seqA", 10)
    write_sequence(tmp_path / "seqB", 7)
    ds = SequenceFolder(tmp_path, delta=2, num_refs=4, crop_size=8, augment=True, seed=0)
    assert ds.offsets == [-3, -2, 2, 3]
    assert len(ds) == 4 + 1  # valid centres: 3..6 in seqA, 3 in seqB
    for i in range(len(ds)):
        s = ds[i]
        t = s["meta"]["index"]
        assert s["blur"].shape == (3, 8, 8) and s["refs"].shape == (4, 3, 8, 8)
        assert frame_index(s["blur"]) == t
        assert [frame_index(r) for r in s["refs"]] == [t + o for o in ds.offsets]
        # the same crop/flip on all frames: red/green (position) channels identical everywhere
        for r in s["refs"]:
            assert torch.equal(r[:2], s["blur"][:2])
    assert ds[0]["name"] == "seqA/3"
    assert len(SequenceFolder(tmp_path, delta=2, num_refs=4, edge="clamp")) == 17
    with pytest.raises(CamdeblurError, match="no frame has all its references"):
        SequenceFolder(tmp_path, delta=6, num_refs=2)


def test_sequence_folder_gopro_style_refs_and_ground_truth(tmp_path):
    for scene in ("s1", "s2"):
        write_sequence(tmp_path / scene / "blur", 5)
        for k in range(5):
            write_image(tmp_path / scene / "sharp" / f"{k}.png", coords(16, 20, tag=10 * k + 1))
    ds = SequenceFolder(tmp_path, delta=1, num_refs=2, subdir="blur", ref_subdir="sharp", gt_subdir="sharp")
    assert len(ds) == 6
    s = ds[0]
    assert s["name"] == "s1/1"
    assert int(torch.round(s["sharp"][2, 0, 0] * 255)) == 11  # ground truth = sharp frame at t
    assert [int(torch.round(r[2, 0, 0] * 255)) for r in s["refs"]] == [1, 21]  # sharp frames t-1, t+1
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["refs"].shape == (2, 2, 3, 16, 20)
    with pytest.raises(CamdeblurError, match="sequence folder not found"):
        SequenceFolder(tmp_path, subdir="blur", ref_subdir="missing")


# ---------------------------------------------------------------------------------- transforms
def test_transform_functions():
    rng = np.random.default_rng(0)
    x = torch.arange(2 * 6 * 10, dtype=torch.float32).reshape(2, 6, 10)
    with pytest.raises(CamdeblurError, match="differ in size"):
        paired_random_crop({"a": x, "b": x[:, :5]}, 4, rng)
    for _ in range(20):  # non-square images are never turned by 90 degrees (batches would not collate)
        assert random_flip_rot({"a": x}, rng)["a"].shape == (2, 6, 10)
    out = Augment(crop_size=(8, 12), pad_mode="replicate")({"a": x, "name": "n"}, rng)
    assert out["a"].shape == (2, 8, 12) and out["name"] == "n"
    with pytest.raises(ValueError):
        Augment(crop_size=4, pad_mode="wrap")


def test_bad_image_in_worker_is_still_one_line(tmp_path):
    write_pair(tmp_path / "blur" / "a.png", tmp_path / "sharp" / "a.png")
    blob = (tmp_path / "sharp" / "a.png").read_bytes()
    (tmp_path / "sharp" / "a.png").write_bytes(blob[: len(blob) // 2])
    ds = open_paired(tmp_path)
    with pytest.raises(CamdeblurError) as exc:
        next(iter(DataLoader(ds, num_workers=1)))
    line = exc.value.line()
    assert "\n" not in line and "sharp/a.png" in line and "truncated" in line
