"""Exposure rendering: a sharp photo (the scene) -> a (blurry, sharp) pair of one simulated camera.

Pipeline per sample (all randomness from ``numpy.random.default_rng(SeedSequence(seed))``; the same
seed gives bit-identical output, alone or inside any batch)::

    photo --random downscale + crop (+ fixed margin)--> display values
          --inverse CRF--> linear scene  (--highlight boost: saturated light sources)
          --camera shake: sub-frames warped by homographies H(t) (torch grid_sample, batched),
            optional independently moving object, averaged in linear intensity-->  linear blur
          --Poisson-Gaussian noise (heteroscedastic Gaussian model of Foi et al.: variance = shot * x + read^2,
            per-sample torch generator)--> --clip [0, 1] (saturation)-->
          --CRF--> (--JPEG) --> blurry
    sharp = CRF(clip(mid-exposure sub-frame)), no noise, no JPEG.

Uniform cameras replace the sub-frame average by a convolution with one PSF per sample (exactly
``sharp (*) psf`` when the response is linear and the noise zero).

Main entry points: :func:`render` (one photo -> numpy ``(H, W, 3)`` pair + meta) and
:func:`render_batch` (many photos -> torch ``(B, 3, H, W)``), plus the response curves :func:`crf`,
:func:`inverse_crf`.
"""

from __future__ import annotations

import contextlib
import functools
import io as _io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from camdeblur.errors import CamdeblurError
from camdeblur.sim import psf as psf_mod
from camdeblur.sim import trajectory as traj
from camdeblur.sim.camera import Camera, get_camera
from camdeblur.utils import pick_device

SeedLike = int | Sequence[int]


# ------------------------------------------------------------------------------- response curves
def _srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def _srgb_inv(y: torch.Tensor) -> torch.Tensor:
    return torch.where(y <= 0.04045, y / 12.92, ((y.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def _scurve(y: torch.Tensor, a: float) -> torch.Tensor:
    return y + a * y * (1 - y) * (2 * y - 1)


@functools.lru_cache(maxsize=16)
def _scurve_lut(a: float, n: int = 4097) -> torch.Tensor:
    """Inverse S-curve tabulated on a uniform grid of outputs (float64 Newton, then float32)."""
    z = torch.linspace(0, 1, n, dtype=torch.float64)
    y = z.clone()
    for _ in range(30):
        y = (y - (_scurve(y, a) - z) / (1 + a * (6 * y - 6 * y * y - 1))).clamp(0.0, 1.0)
    return y.float()


def _scurve_inv(z: torch.Tensor, a: float) -> torch.Tensor:
    lut = _scurve_lut(float(a)).to(z.device, z.dtype)
    n = lut.numel() - 1
    pos = z.clamp(0.0, 1.0) * n
    i0 = pos.floor().clamp(max=n - 1)
    w = pos - i0
    i0 = i0.long()
    y = torch.lerp(lut[i0], lut[i0 + 1], w)  # accurate start, then Newton to float precision
    for _ in range(2):  # f' in [1 - a, 1 + a/2] > 0
        y = (y - (_scurve(y, a) - z) / (1 + a * (6 * y - 6 * y * y - 1))).clamp(0.0, 1.0)
    return y


def crf(x: torch.Tensor, cam: Camera) -> torch.Tensor:
    """Camera response: linear intensity in [0, 1] -> display value in [0, 1]."""
    x = x.clamp(0.0, 1.0)
    if cam.crf == "linear":
        return x
    if cam.crf == "gamma":
        return x ** (1.0 / cam.gamma)
    y = _srgb(x)
    return _scurve(y, cam.tone) if cam.crf == "tone" and cam.tone > 0 else y


def inverse_crf(y: torch.Tensor, cam: Camera) -> torch.Tensor:
    """Inverse camera response: display value in [0, 1] -> linear intensity in [0, 1]."""
    y = y.clamp(0.0, 1.0)
    if cam.crf == "linear":
        return y
    if cam.crf == "gamma":
        return y ** cam.gamma
    if cam.crf == "tone" and cam.tone > 0:
        y = _scurve_inv(y, cam.tone)
    return _srgb_inv(y)


def expected_noise_std(value: float, cam: Camera, shot: float, read: float) -> float:
    """Predicted std of the blurry output on a flat patch of display value ``value`` (small-noise
    approximation: linear std times the CRF slope)."""
    lin = float(inverse_crf(torch.tensor([value], dtype=torch.float64), cam))
    sd = math.sqrt(shot * lin + read * read)
    eps = 1e-4
    hi = float(crf(torch.tensor([min(lin + eps, 1.0)], dtype=torch.float64), cam))
    lo = float(crf(torch.tensor([max(lin - eps, 0.0)], dtype=torch.float64), cam))
    return sd * (hi - lo) / (min(lin + eps, 1.0) - max(lin - eps, 0.0))


# ------------------------------------------------------------------------------------ sampling
def _seed_tuple(seed: SeedLike) -> list[int]:
    return [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]


def seed_rng(seed: SeedLike) -> np.random.Generator:
    """The generator of one sample: ``seed`` is an int or a sequence of ints (e.g. ``(seed, index)``)."""
    return np.random.default_rng(np.random.SeedSequence([s & 0xFFFFFFFFFFFFFFFF for s in _seed_tuple(seed)]))


def _as_size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h < 4 or w < 4:
        raise CamdeblurError(f"sample size {h}x{w} is too small", where="--size", fix="use at least 4 pixels")
    return h, w


def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * n - 2
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def _check_photo(photo) -> np.ndarray:
    a = np.asarray(photo)
    if a.ndim != 3 or a.shape[2] != 3:
        raise CamdeblurError(f"photo must be an (H, W, 3) RGB array, got shape {a.shape}", where="photo",
                             fix="convert grey or RGBA images to RGB (camdeblur.io.read_rgb does)")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    return a.astype(np.float32, copy=False)


def _extract(photo: np.ndarray, rng: np.random.Generator, cam: Camera, size: tuple[int, int], margin):
    """Random downscale + crop of ``photo``: display values ``(3, h + top + bottom, w + left + right)``.

    ``margin`` is an int or ``(left, top, right, bottom)``; outside the photo the content is mirrored."""
    h, w = size
    ml, mt, mr, mb = (margin,) * 4 if isinstance(margin, (int, np.integer)) else (int(m) for m in margin)
    H0, W0 = photo.shape[:2]
    unit = max(h, w)
    k = float(rng.uniform(*cam.scene_scale))
    short = min(H0, W0)
    scale = max(min(k * unit / short, 1.0), unit / short)
    Hd, Wd = H0 * scale, W0 * scale
    x0 = float(rng.uniform(0.0, max(Wd - w, 0.0)))
    y0 = float(rng.uniform(0.0, max(Hd - h, 0.0)))
    ph, pw = h + mt + mb, w + ml + mr
    rh, rw = max(1, int(round(ph / scale))), max(1, int(round(pw / scale)))
    X0 = int(math.floor((x0 - ml) / scale))
    Y0 = int(math.floor((y0 - mt) / scale))
    ys = _reflect_index(np.arange(Y0, Y0 + rh), H0)
    xs = _reflect_index(np.arange(X0, X0 + rw), W0)
    region = photo[ys[:, None], xs[None, :]]
    t = torch.from_numpy(np.ascontiguousarray(region)).permute(2, 0, 1)[None]
    if (rh, rw) != (ph, pw):
        t = F.interpolate(t, size=(ph, pw), mode="bilinear", antialias=(rh > ph or rw > pw), align_corners=False)
    info = {"scale": round(ph / rh, 6), "crop_xy": [round(x0, 3), round(y0, 3)], "photo_hw": [int(H0), int(W0)],
            "scene_scale": round(k, 4)}
    return t[0].clamp(0.0, 1.0), info


def _boost(lin: torch.Tensor, thr: float, gain: float) -> torch.Tensor:
    """Turn bright pixels into light sources brighter than the sensor range (RSBlur-style saturation)."""
    m = lin.amax(dim=0, keepdim=True)
    s = ((m - thr) / max(1.0 - thr, 1e-6)).clamp(0.0, 1.0)
    return lin * (1.0 + (gain - 1.0) * s * s * (3 - 2 * s))


@dataclass
class _Plan:
    """Everything drawn for one sample before any pixel is touched."""

    Hs: np.ndarray  # (n, 3, 3) output -> crop coordinates, per sub-frame
    H_sharp: np.ndarray  # (3, 3)
    obj: dict | None  # {"center", "radii", "shifts": (n, 2), "shift_sharp": (2,)}
    kernel: np.ndarray | None
    noise: tuple[float, float]
    noise_seed: int
    jpeg: int | None
    meta: dict


def _randint(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi]`` that always consumes one draw (numpy's ``integers`` does not when
    ``lo == hi``), so changing a range never shifts the rest of a sample's random stream."""
    return int(lo + min(int(rng.random() * (hi - lo + 1)), hi - lo))


def _draw_object(rng: np.random.Generator, cam: Camera, size) -> dict | None:
    present = rng.random() < cam.object_prob
    speed = float(rng.uniform(*cam.object_speed))
    direction = float(rng.uniform(0, 2 * math.pi))
    r = float(rng.uniform(*cam.object_size))
    aspect = float(rng.uniform(0.6, 1.0))
    cx, cy = (float(v) for v in rng.uniform(0.2, 0.8, size=2))
    if not present:
        return None
    h, w = size
    m = max(h, w)
    return {"speed": speed, "direction": direction, "center": [cx * (w - 1), cy * (h - 1)],
            "radii": [r * m, r * m * aspect]}


def plan_sample(rng: np.random.Generator, cam: Camera, size: tuple[int, int]) -> tuple[dict, _Plan]:
    """Draw a sample's camera randomness (shake, exposure, object, kernel, noise, JPEG) in a fixed order."""
    shake = traj.sample_shake(rng, cam)
    exposure = _randint(rng, *cam.exposure_frames)
    obj = _draw_object(rng, cam, size)
    shot = float(rng.uniform(*cam.shot_noise))
    read = float(rng.uniform(*cam.read_noise))
    noise_seed = int(rng.integers(0, 2**62))
    use_hl = rng.random() < cam.highlight_prob
    hl = float(rng.uniform(*cam.highlight_gain))
    hl = hl if use_hl else None
    use_jpeg = rng.random() < cam.jpeg_prob
    jq = _randint(rng, *cam.jpeg_quality)
    jq = jq if use_jpeg else None
    meta: dict = {"camera": cam.name, "kind": cam.kind, "crf": cam.crf, "noise": {"shot": shot, "read": read},
                  "highlight_gain": hl, "jpeg_quality": jq}
    kernel = None
    if cam.kind == "uniform":
        if cam.kernel_source == "file":
            ks = psf_mod.load_kernels(cam.kernel_file)
            i = _randint(rng, 0, len(ks) - 1)
            kernel = ks[i]
            meta["kernel"] = {"source": "file", "file": str(cam.kernel_file), "index": i}
        else:
            kernel = psf_mod.random_psf(rng, cam.kernel_size, cam.kernel_length)
            meta["kernel"] = {"source": "random"}
        meta["kernel"]["psf"] = np.round(kernel.astype(np.float64), 8).tolist()
        meta["kernel"]["size"] = int(kernel.shape[0])
        Hs = np.eye(3)[None]
        obj = None
        n = 1
        t = np.zeros(1)
    else:
        n = traj.count_subframes(shake, obj, exposure, size, cam.subframe_step, cam.max_subframes)
        t = traj.subframe_times(exposure, n)
        Hs = traj.shake_homographies(shake, t, size)
        meta["shake"] = shake
        meta["exposure_frames"] = exposure
        meta["exposure_s"] = exposure / cam.fps
        meta["subframes"] = n
        meta["subframe_times"] = [round(float(v), 6) for v in t]
        meta["homographies"] = np.round(Hs.reshape(len(Hs), 9), 8).tolist()
        lens = traj.path_lengths(Hs, size) if n > 1 else np.zeros(5)
        meta["blur_length_px"] = float(lens[-1])
        meta["max_corner_path_px"] = float(lens.max())
        meta["centre_path"] = np.round(traj.centre_path(Hs, size), 4).tolist()
    objd = None
    if obj is not None:
        shifts = traj.object_motion(obj, t)
        objd = {"center": obj["center"], "radii": obj["radii"], "shifts": shifts, "shift_sharp": np.zeros(2)}
        meta["object"] = {**obj, "path_length_px": float(obj["speed"] * (t[-1] - t[0])) if n > 1 else 0.0}
    else:
        meta["object"] = None
    plan = _Plan(Hs=Hs, H_sharp=np.eye(3), obj=objd, kernel=kernel, noise=(shot, read), noise_seed=noise_seed,
                 jpeg=jq, meta=meta)
    return {"highlight": hl}, plan


def source_margin(cam: Camera, size: tuple[int, int]) -> int:
    """Fixed padding (pixels) around the crop for this camera and size."""
    if cam.kind == "uniform":
        if cam.kernel_source == "file":
            return max(k.shape[0] for k in psf_mod.load_kernels(cam.kernel_file)) // 2
        k = cam.kernel_size[1]
        return (k + 1 - k % 2) // 2
    return traj.margin_bound(cam, size)


# ------------------------------------------------------------------------------------ warping
def _base_coords(h: int, w: int, device) -> torch.Tensor:
    """Homogeneous output pixel coordinates ``(h * w, 3)`` (x, y, 1), float32."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                            torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones(h * w, device=device)], 1)


def _normalized(Hs: np.ndarray, origins: np.ndarray, hp: int, wp: int) -> np.ndarray:
    """Fold the source origin and grid_sample's [-1, 1] normalisation (align_corners=False) into ``Hs``."""
    k = len(Hs)
    N = np.zeros((k, 3, 3))
    N[:, 0, 0] = 2.0 / wp
    N[:, 1, 1] = 2.0 / hp
    N[:, 0, 2] = (2.0 * origins[:, 0] + 1.0) / wp - 1.0
    N[:, 1, 2] = (2.0 * origins[:, 1] + 1.0) / hp - 1.0
    N[:, 2, 2] = 1.0
    return N @ Hs


def _apply(G: np.ndarray, base: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(k, h, w, 2)`` image of the output pixels under homographies ``G`` ``(k, 3, 3)``.

    Elementwise (no batched matmul) so each item's coordinates do not depend on the batch."""
    g = torch.as_tensor(G, dtype=torch.float32, device=base.device).reshape(len(G), 9, 1)
    x, y = base[:, 0], base[:, 1]
    den = g[:, 6] * x + g[:, 7] * y + g[:, 8]
    gx = (g[:, 0] * x + g[:, 1] * y + g[:, 2]) / den
    gy = (g[:, 3] * x + g[:, 4] * y + g[:, 5]) / den
    return torch.stack([gx, gy], dim=-1).view(len(G), h, w, 2)


def _is_identity(H: np.ndarray) -> bool:
    return bool(np.array_equal(H, np.eye(3)))


def _warp(src: torch.Tensor, origins: np.ndarray, Hs: np.ndarray, size, base) -> torch.Tensor:
    """Sample ``src`` ``(k, 3, Hp, Wp)`` under ``Hs`` ``(k, 3, 3)`` (output -> crop coordinates) -> ``(k, 3, h, w)``.

    Items whose homography is the identity (integer origin) are exact slices, the others are resampled
    bilinearly; either way an item's result does not depend on the rest of the batch."""
    h, w = size
    ident = [i for i in range(len(Hs)) if _is_identity(Hs[i]) and not np.any(np.mod(origins[i], 1.0))]

    def cut(i):
        ox, oy = int(origins[i][0]), int(origins[i][1])
        return src[i, :, oy:oy + h, ox:ox + w]

    if len(ident) == len(Hs):
        return torch.stack([cut(i) for i in ident])
    rest = [i for i in range(len(Hs)) if i not in ident]
    sel = slice(None) if not ident else rest
    grid = _apply(_normalized(Hs[sel], origins[sel], src.shape[2], src.shape[3]), base, h, w)
    out = F.grid_sample(src if not ident else src[rest], grid, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    if not ident:
        return out
    full = torch.empty((len(Hs), *out.shape[1:]), dtype=out.dtype, device=out.device)
    full[rest] = out
    for i in ident:
        full[i] = cut(i)
    return full


def _object_layer(src_flip: torch.Tensor, origins: np.ndarray, Hs: np.ndarray, objs: list[dict], shifts: np.ndarray,
                  size, base) -> tuple[torch.Tensor, torch.Tensor]:
    """Texture ``(k, 3, h, w)`` and soft elliptic mask ``(k, 1, h, w)`` of moving objects at one sub-frame.

    The object's texture is the scene rotated by 180 degrees (another part of the photo), moved by its
    own shift and then by the camera motion."""
    h, w = size
    k = len(Hs)
    pre = np.tile(np.eye(3), (k, 1, 1))
    pre[:, 0, 2] = -shifts[:, 0]
    pre[:, 1, 2] = -shifts[:, 1]
    Ho = Hs @ pre
    u = _apply(Ho, base, h, w)  # crop coordinates of the object point seen by each output pixel
    hp, wp = src_flip.shape[2], src_flip.shape[3]
    o = torch.as_tensor(origins, dtype=torch.float32, device=u.device)[:, None, None, :]
    scale = torch.tensor([2.0 / wp, 2.0 / hp], device=u.device)
    grid = (2.0 * (u + o) + 1.0) * (scale / 2.0) - 1.0
    tex = F.grid_sample(src_flip, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    c = torch.as_tensor([ob["center"] for ob in objs], dtype=torch.float32, device=u.device)[:, None, None, :]
    r = torch.as_tensor([ob["radii"] for ob in objs], dtype=torch.float32, device=u.device)[:, None, None, :]
    rho = (((u - c) / r) ** 2).sum(-1).sqrt()
    mask = ((1.0 - rho) * r.amin(-1) + 0.5).clamp(0.0, 1.0).to(src_flip.dtype)[:, None]
    return tex, mask


def _subframe(src, src_flip, origins, Hs, objs, shifts, size, base) -> torch.Tensor:
    """One sub-frame for ``k`` items: background warp plus composited objects where present."""
    out = _warp(src, origins, Hs, size, base)
    has = [i for i, ob in enumerate(objs) if ob is not None]
    if has:
        tex, mask = _object_layer(src_flip[has], origins[has], Hs[has], [objs[i] for i in has],
                                  np.stack([shifts[i] for i in has]), size, base)
        out[has] = mask * tex + (1 - mask) * out[has]
    return out


def _convolve(src: torch.Tensor, origins: np.ndarray, kernels: list[np.ndarray], size) -> torch.Tensor:
    """True convolution of each item's crop (plus its margin) with its own PSF -> ``(k, 3, h, w)``."""
    h, w = size
    C = src.shape[1]
    out = []
    for b, k in enumerate(kernels):
        r = k.shape[0] // 2
        ox, oy = int(origins[b][0]), int(origins[b][1])
        patch = src[b:b + 1, :, oy - r:oy + h + r, ox - r:ox + w + r]
        weight = torch.from_numpy(np.ascontiguousarray(k[::-1, ::-1])).to(src)[None, None].repeat(C, 1, 1, 1)
        out.append(F.conv2d(patch, weight, groups=C)[0])
    return torch.stack(out)


def render_linear(src: torch.Tensor, origins: np.ndarray, plans: list[_Plan], size) -> tuple[torch.Tensor, torch.Tensor]:
    """Average sub-frames in linear intensity: ``src`` ``(B, 3, Hp, Wp)`` linear -> (blur, sharp) linear ``(B, 3, h, w)``.

    Items are independent: item ``b`` gives the same bits whatever the other items of the batch are.
    Items are processed longest exposure first so the items still active at sub-frame ``j`` are a
    prefix of the batch (views, no copies)."""
    h, w = size
    B = len(plans)
    origins = np.asarray(origins, dtype=np.float64)
    base = _base_coords(h, w, src.device)
    acc = torch.zeros((B, src.shape[1], h, w), dtype=src.dtype, device=src.device)
    conv = [b for b, p in enumerate(plans) if p.kernel is not None]
    if conv:
        acc[conv] = _convolve(src[conv], origins[conv], [plans[b].kernel for b in conv], size)
    shake = sorted((b for b, p in enumerate(plans) if p.kernel is None), key=lambda b: -len(plans[b].Hs))
    if shake:
        srt = src[shake] if shake != list(range(B)) else src
        o_s = origins[shake]
        pl = [plans[b] for b in shake]
        flip = torch.flip(srt, dims=(-2, -1)) if any(p.obj is not None for p in pl) else srt
        ns = [len(p.Hs) for p in pl]
        wts = torch.tensor([1.0 / n for n in ns], dtype=src.dtype, device=src.device)[:, None, None, None]
        acc_s = torch.zeros((len(pl), src.shape[1], h, w), dtype=src.dtype, device=src.device)
        for j in range(ns[0]):
            k = sum(1 for n in ns if n > j)
            Hs = np.stack([p.Hs[j] for p in pl[:k]])
            objs = [p.obj for p in pl[:k]]
            shifts = [p.obj["shifts"][j] if p.obj is not None else None for p in pl[:k]]
            sub = _subframe(srt[:k], flip[:k], o_s[:k], Hs, objs, shifts, size, base)
            acc_s[:k].addcmul_(sub, wts[:k])
        acc[shake] = acc_s
    Hs = np.stack([p.H_sharp for p in plans])
    objs = [p.obj if p.kernel is None else None for p in plans]
    shifts = [p.obj["shift_sharp"] if p.obj is not None else None for p in plans]
    need_flip = any(o is not None for o in objs)
    sharp = _subframe(src, torch.flip(src, dims=(-2, -1)) if need_flip else src, origins, Hs, objs, shifts, size, base)
    return acc, sharp


def _noise(lin: torch.Tensor, plans: list[_Plan]) -> torch.Tensor:
    out = lin.clone()
    for b, p in enumerate(plans):
        shot, read = p.noise
        if shot <= 0 and read <= 0:
            continue
        g = torch.Generator().manual_seed(p.noise_seed)
        n = torch.randn(lin.shape[1:], generator=g, dtype=torch.float32).to(lin.device)
        out[b] = lin[b] + torch.sqrt(shot * lin[b].clamp(0.0, 1.0) + read * read) * n
    return out


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip (8-bit, 4:2:0 as cameras do) of one ``(3, H, W)`` image in [0, 1]."""
    from PIL import Image

    a = (img.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = _io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=int(quality), subsampling=2)
    buf.seek(0)
    b = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(b).permute(2, 0, 1).to(img.device)


def finish(lin_blur: torch.Tensor, lin_sharp: torch.Tensor, plans: list[_Plan], cam: Camera):
    """Noise, saturation clip, CRF and JPEG: linear renders -> display ``(blur, sharp)``."""
    blur = crf(_noise(lin_blur, plans).clamp(0.0, 1.0), cam)
    sharp = crf(lin_sharp.clamp(0.0, 1.0), cam)
    for b, p in enumerate(plans):
        if p.jpeg is not None:
            blur[b] = jpeg(blur[b], p.jpeg)
    return blur.contiguous(), sharp.contiguous()


# ------------------------------------------------------------------------------------ public API
@contextlib.contextmanager
def cpu_threads(threads: int | None, device: torch.device):
    """Run with ``threads`` torch CPU threads (restored on exit); no-op for ``None`` or non-CPU devices."""
    if threads is None or device.type != "cpu" or int(threads) == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def render_batch(photos: Sequence[np.ndarray], camera: Camera | str, seeds: Sequence[SeedLike], size=256,
                 device: str | torch.device | None = "cpu", names: Sequence[str] | None = None,
                 sharp_only: bool = False, threads: int | None = 1, exposed_by: Camera | str | None = None):
    """Render one pair per (photo, seed), batched through ``grid_sample``.

    Args:
        photos: float32 ``(H, W, 3)`` arrays in [0, 1] (uint8 accepted), one per sample (repeat a photo
            to get several samples from it).
        camera: a :class:`Camera` or preset name / YAML path.
        seeds: one seed per sample (int or tuple of ints); item ``b`` depends only on ``(photo, seed, size)``.
        size: output size ``S`` or ``(H, W)``.
        device: where to render (``None``/``"auto"`` picks CUDA when present).
        names: optional photo names stored in the metadata.
        threads: torch CPU threads used while rendering (restored afterwards); ``None`` keeps torch's
            setting. Default 1: the renderer runs many small ops that scale poorly across threads (and
            collapse when other processes share the cores); parallelise with DataLoader workers or
            processes instead.
        sharp_only: skip the exposure (``blur`` is returned as ``None``); ``sharp`` is bit-identical to
            the full render's (same crop, same draws) — for sharp-only sets such as Blur2Blur's S.
        exposed_by: another camera that exposes *the same source windows*: each sample's photo window and
            boosted light sources are drawn exactly as for ``camera``, then ``exposed_by``'s own motion,
            noise and response (drawn from ``seed + (99,)``) make the pair. This is what a perfect blur
            translator from ``camera`` to ``exposed_by`` would output (e.g. the oracle of the Blur2Blur
            benchmark). Needs ``exposed_by``'s source margin to fit in ``camera``'s.

    Returns:
        ``(blur, sharp, metas)``: float32 tensors ``(B, 3, H, W)`` in [0, 1] and JSON-able dicts.
    """
    dev = pick_device(device)
    with cpu_threads(threads, dev):
        return _render_batch(photos, camera, seeds, size, dev, names, sharp_only, exposed_by)


def _render_batch(photos, camera, seeds, size, dev, names, sharp_only, exposed_by=None):
    cam = get_camera(camera)
    size = _as_size(size)
    if len(photos) != len(seeds):
        raise ValueError(f"{len(photos)} photos but {len(seeds)} seeds")
    margin = source_margin(cam, size)
    exp = cam if exposed_by is None else get_camera(exposed_by)
    if exposed_by is not None and source_margin(exp, size) > margin:
        raise CamdeblurError(f"camera {exp.name} needs a larger source window than {cam.name} at {size[0]}x{size[1]}",
                             where="exposed_by", fix="expose the windows of the camera with the larger margin")
    srcs, plans, origins = [], [], []
    for i, (photo, seed) in enumerate(zip(photos, seeds)):
        rng = seed_rng(seed)
        src, info = _extract(_check_photo(photo), rng, cam, size, margin)
        extra, plan = plan_sample(rng, cam, size)
        lin = inverse_crf(src.to(dev), exp)
        if extra["highlight"] is not None:
            lin = _boost(lin, cam.highlight_threshold, extra["highlight"])
        if exposed_by is not None:
            _, plan = plan_sample(seed_rng([*_seed_tuple(seed), 99]), exp, size)
            plan.meta["exposed_by"] = exp.name
        srcs.append(lin)
        plan.meta.update(info)
        plan.meta["seed"] = _seed_tuple(seed)
        plan.meta["size"] = list(size)
        if names is not None:
            plan.meta["photo"] = str(names[i])
        plans.append(plan)
        origins.append([margin, margin])
    src = torch.stack(srcs)
    if sharp_only:
        for p in plans:
            p.meta["sharp_only"] = True  # the exposure parameters were drawn but not rendered
            p.Hs, p.kernel = p.H_sharp[None], None
            if p.obj is not None:
                p.obj = {**p.obj, "shifts": p.obj["shift_sharp"][None]}
        _, lin_sharp = render_linear(src, np.asarray(origins, dtype=np.float64), plans, size)
        return None, crf(lin_sharp.clamp(0.0, 1.0), exp).contiguous(), [p.meta for p in plans]
    lin_blur, lin_sharp = render_linear(src, np.asarray(origins, dtype=np.float64), plans, size)
    blur, sharp = finish(lin_blur, lin_sharp, plans, exp)
    return blur, sharp, [p.meta for p in plans]


def render(photo: np.ndarray, camera: Camera | str, seed: SeedLike = 0, size=256, name: str | None = None):
    """One (blurry, sharp) pair from a photo: numpy float32 ``(H, W, 3)`` arrays in [0, 1] plus JSON-able meta.

    Example:
        >>> from camdeblur.sim import get_camera, load_photos, render
        >>> blur, sharp, meta = render(load_photos()[0], get_camera("phone"), seed=3, size=128)
    """
    blur, sharp, metas = render_batch([photo], camera, [seed], size=size, device="cpu",
                                      names=None if name is None else [name])
    return blur[0].permute(1, 2, 0).numpy(), sharp[0].permute(1, 2, 0).numpy(), metas[0]
