"""Video sequences along one long camera trajectory (the BluRef reference protocol).

Frames are taken every ``interval`` frames of the camera clock along one continuous shake. A frame
is either a *long* exposure (blurry, averaged over ``exposure_frames``) or a *short* one (a single
instant: sharp but still noisy, as a real camera records it). Every frame also has its noise-free
mid-exposure ground truth. With :func:`long_pattern`, every long frame has ``num_refs`` short frames
at offsets ``±delta ...`` (:func:`camdeblur.data.layouts.reference_offsets`) and never uses its own
ground truth as a reference.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from camdeblur.data.layouts import reference_offsets
from camdeblur.sim import trajectory as traj
from camdeblur.sim.camera import Camera, get_camera
from camdeblur.sim.exposure import (SeedLike, _as_size, _boost, _check_photo, _extract, _Plan, _randint, cpu_threads,
                                    finish, inverse_crf, render_linear, seed_rng)


def long_pattern(num_frames: int, delta: int, num_refs: int) -> list[bool]:
    """Which frames are long exposures: every ``delta + num_refs/2``-th frame, so the references of a
    long frame (at the offsets of :func:`reference_offsets`) are all short frames."""
    period = delta + max(num_refs // 2, 1)
    return [k % period == 0 for k in range(num_frames)]


def render_frames(photo: np.ndarray, camera: Camera | str, seed: SeedLike, size, frame_index: Sequence[int],
                  long: Sequence[bool], interval: int | None = None, device="cpu", threads: int | None = 1):
    """Render frames ``frame_index`` (integers, 0 = the sequence's reference time) of one sequence.

    Returns:
        ``(captured, sharp, metas, seq_meta)``: ``(F, 3, H, W)`` tensors — what the camera records
        (long frames blurry, short frames instantaneous; both noisy/JPEG as the camera is) and the
        noise-free mid-exposure ground truth — plus per-frame metadata and sequence metadata.
    """
    from camdeblur.utils import pick_device

    dev = pick_device(device)
    with cpu_threads(threads, dev):
        return _render_frames(photo, camera, seed, size, frame_index, long, interval, dev)


def _render_frames(photo, camera, seed, size, frame_index, long, interval, dev):
    cam = get_camera(camera)
    if cam.kind != "shake":
        from camdeblur.errors import CamdeblurError

        raise CamdeblurError(f"camera '{cam.name}' is uniform (kind: uniform); sequences need camera motion",
                             where="--sequences", fix="use a shake camera such as gopro, reds, phone or rsblur")
    size = _as_size(size)
    rng = seed_rng(seed)
    interval = int(interval or max(cam.exposure_frames[1], 1))
    shake = traj.sample_shake(rng, cam)
    shot = float(rng.uniform(*cam.shot_noise))
    read = float(rng.uniform(*cam.read_noise))
    hl = float(rng.uniform(*cam.highlight_gain)) if rng.random() < cam.highlight_prob else None
    plans, all_H = [], []
    for k, is_long in zip(frame_index, long):
        frng = seed_rng([*([int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]),
                         int(k) & 0xFFFFFFFF, 7])
        tau = float(k * interval)
        exposure = _randint(frng, max(cam.exposure_frames[0], 1), max(cam.exposure_frames[1], 1))
        exposure = exposure if is_long else 0
        n = 1
        if exposure > 0:
            probe = tau + np.linspace(-exposure / 2, exposure / 2, 33)
            length = float(traj.path_lengths(traj.shake_homographies(shake, probe, size), size).max())
            n = traj.odd_subframes(int(math.ceil(length / cam.subframe_step)) + 1, cam.max_subframes)
        t = traj.subframe_times(exposure, n)
        Hs = traj.shake_homographies(shake, tau + t, size)
        Hsharp = traj.shake_homographies(shake, np.array([tau]), size)[0]
        use_jpeg = frng.random() < cam.jpeg_prob
        jq = _randint(frng, *cam.jpeg_quality)
        jq = jq if use_jpeg else None
        meta = {"camera": cam.name, "frame": int(k), "long_exposure": bool(is_long), "time_frames": tau,
                "exposure_frames": exposure, "exposure_s": exposure / cam.fps, "subframes": n,
                "homographies": np.round(Hs.reshape(n, 9), 8).tolist(),
                "homography_sharp": np.round(Hsharp.reshape(9), 8).tolist(),
                "blur_length_px": float(traj.path_lengths(Hs, size)[-1]) if n > 1 else 0.0,
                "noise": {"shot": shot, "read": read}, "jpeg_quality": jq}
        plans.append(_Plan(Hs=Hs, H_sharp=Hsharp, obj=None, kernel=None, noise=(shot, read),
                           noise_seed=int(frng.integers(0, 2**62)), jpeg=jq, meta=meta))
        all_H.append(Hs)
        all_H.append(Hsharp[None])
    # source extent: every output corner at every time must stay inside the padded crop
    pts = traj.apply_homographies(np.concatenate(all_H), traj.corners(size)).reshape(-1, 2)
    h, w = size
    ml = int(math.ceil(max(0.0, -pts[:, 0].min()))) + 2
    mt = int(math.ceil(max(0.0, -pts[:, 1].min()))) + 2
    mr = int(math.ceil(max(0.0, pts[:, 0].max() - (w - 1)))) + 2
    mb = int(math.ceil(max(0.0, pts[:, 1].max() - (h - 1)))) + 2
    src, info = _extract(_check_photo(photo), rng, cam, size, (ml, mt, mr, mb))
    lin = inverse_crf(src.to(dev), cam)
    if hl is not None:
        lin = _boost(lin, cam.highlight_threshold, hl)
    F_ = len(plans)
    srcb = lin[None].expand(F_, *lin.shape)
    origins = np.tile(np.array([[ml, mt]], dtype=np.float64), (F_, 1))
    lin_blur, lin_sharp = render_linear(srcb, origins, plans, size)
    captured, sharp = finish(lin_blur, lin_sharp, plans, cam)
    seq_meta = {"camera": cam.name, "seed": list(np.atleast_1d(seed).astype(int).tolist()), "size": list(size),
                "interval_frames": interval, "shake": shake, "highlight_gain": hl, **info}
    return captured, sharp, [p.meta for p in plans], seq_meta


def render_sequence(photo: np.ndarray, camera: Camera | str, seed: SeedLike = 0, size=256, num_frames: int = 12,
                    delta: int = 1, num_refs: int = 6, interval: int | None = None, device="cpu") -> dict:
    """A whole sequence of ``num_frames`` consecutive frames with the :func:`long_pattern` exposures.

    Returns a dict: ``frames`` (F, 3, H, W) as recorded, ``sharp`` (F, 3, H, W) ground truth,
    ``long`` (list of bool), ``metas`` (per frame), ``meta`` (sequence), ``offsets`` (reference offsets).
    """
    pattern = long_pattern(num_frames, delta, num_refs)
    frames, sharp, metas, meta = render_frames(photo, camera, seed, size, list(range(num_frames)), pattern,
                                               interval=interval, device=device)
    meta.update({"delta": delta, "num_refs": num_refs, "offsets": reference_offsets(delta, num_refs),
                 "long_frames": [k for k, v in enumerate(pattern) if v]})
    return {"frames": frames, "sharp": sharp, "long": pattern, "metas": metas, "meta": meta,
            "offsets": reference_offsets(delta, num_refs)}
