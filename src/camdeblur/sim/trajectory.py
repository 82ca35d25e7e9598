"""Camera-shake trajectories as homographies over time.

A shake is drawn once per sample (:func:`sample_shake`) as a small JSON-able dict and evaluated at
any times (:func:`shake_homographies`). Time ``t`` is in frames of the camera clock, ``t = 0`` is
mid exposure, where the homography is the identity (so the sharp target is the un-warped crop).

The homography maps an *output* pixel ``x`` (pixel-centre coordinates, origin at the crop's top-left
pixel centre) to the scene coordinate it sees at time ``t``::

    H(t) = T(c + d(t)) . [[s R(theta), 0], [p^T, 1]] . T(-c)

with ``c`` the crop centre, ``d(t)`` the translation (a curved path of constant speed plus a
Brownian-velocity hand tremor), ``theta(t)`` in-plane rotation, ``s(t) = exp(zoom t)`` and
``p(t)`` a perspective tilt. An independently moving object is a translation ``d_obj(t)`` applied
before ``H(t)``.
"""

from __future__ import annotations

import math

import numpy as np

#: Spacing of the tremor's random-walk knots in frames.
JITTER_DT = 0.25


def sample_shake(rng: np.random.Generator, cam) -> dict:
    """Draw the shake parameters of one sample from ``cam`` (a :class:`~camdeblur.sim.camera.Camera`)."""
    sym = lambda m: float(rng.uniform(-m, m)) if m > 0 else 0.0  # noqa: E731
    return {
        "speed": float(rng.uniform(*cam.speed)),
        "direction": float(rng.uniform(0.0, 2 * math.pi)),
        "turn": sym(cam.curvature_max),
        "jitter": float(cam.jitter),
        "jitter_seed": int(rng.integers(0, 2**31 - 1)),
        "rotation": math.radians(sym(cam.rotation_max)),
        "zoom": sym(cam.zoom_max),
        "perspective": [sym(cam.perspective_max), sym(cam.perspective_max)],
    }


def zero_shake() -> dict:
    """A shake with no motion at all (``H(t) = I`` for every ``t``)."""
    return {"speed": 0.0, "direction": 0.0, "turn": 0.0, "jitter": 0.0, "jitter_seed": 0, "rotation": 0.0,
            "zoom": 0.0, "perspective": [0.0, 0.0]}


def _tremor(seed: int, std: float, t: np.ndarray) -> np.ndarray:
    """Position offset ``(len(t), 2)`` of a Brownian velocity (std ``std`` px/frame per sqrt(frame)), zero at t=0.

    Knots are drawn outward from ``t = 0`` in a prefix-stable order, so a longer time span extends the
    same path (sequences and single exposures of one seed agree)."""
    out = np.zeros((len(t), 2))
    if std <= 0 or len(t) == 0:
        return out
    for side, sign in ((0, 1.0), (1, -1.0)):
        sel = (t * sign) > 0
        if not sel.any():
            continue
        tt = np.abs(t[sel])
        n = int(math.ceil(tt.max() / JITTER_DT)) + 1
        inc = np.random.default_rng([seed, side]).standard_normal((n, 2)) * std * math.sqrt(JITTER_DT)
        vel = np.concatenate([np.zeros((1, 2)), np.cumsum(inc, axis=0)])  # velocity at knots 0..n
        pos = np.concatenate([np.zeros((1, 2)), np.cumsum(0.5 * (vel[1:] + vel[:-1]) * JITTER_DT, axis=0)])
        knots = np.arange(n + 1) * JITTER_DT
        out[sel, 0] = sign * np.interp(tt, knots, pos[:, 0])
        out[sel, 1] = sign * np.interp(tt, knots, pos[:, 1])
    return out


def translation(shake: dict, t: np.ndarray) -> np.ndarray:
    """Camera translation ``d(t)`` in pixels, ``(len(t), 2)`` as (x, y)."""
    t = np.asarray(t, dtype=np.float64)
    v, phi, w = shake["speed"], shake["direction"], shake["turn"]
    if abs(w) > 1e-9:
        dx = v / w * (np.sin(phi + w * t) - math.sin(phi))
        dy = v / w * (math.cos(phi) - np.cos(phi + w * t))
    else:
        dx, dy = v * t * math.cos(phi), v * t * math.sin(phi)
    return np.stack([dx, dy], axis=1) + _tremor(shake["jitter_seed"], shake["jitter"], t)


def shake_homographies(shake: dict, t: np.ndarray, size: tuple[int, int],
                       object_shift: np.ndarray | None = None) -> np.ndarray:
    """Homographies ``(len(t), 3, 3)`` (float64) mapping output pixels to scene pixels at times ``t``.

    Args:
        shake: parameters from :func:`sample_shake`.
        t: times in frames (0 = mid exposure).
        size: output ``(H, W)``; the rotation/zoom/perspective centre is the crop centre.
        object_shift: optional ``(len(t), 2)`` translation applied before the camera motion (object motion).
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    h, w = size
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    d = translation(shake, t)
    th = shake["rotation"] * t
    s = np.exp(shake["zoom"] * t)
    norm = float(max(h, w))
    px = shake["perspective"][0] * t / norm
    py = shake["perspective"][1] * t / norm
    n = len(t)
    A = np.zeros((n, 3, 3))
    A[:, 0, 0] = s * np.cos(th)
    A[:, 0, 1] = -s * np.sin(th)
    A[:, 1, 0] = s * np.sin(th)
    A[:, 1, 1] = s * np.cos(th)
    A[:, 2, 0] = px
    A[:, 2, 1] = py
    A[:, 2, 2] = 1.0
    pre = np.tile(np.eye(3), (n, 1, 1))
    pre[:, 0, 2] = -c[0]
    pre[:, 1, 2] = -c[1]
    if object_shift is not None:
        pre[:, 0, 2] -= object_shift[:, 0]
        pre[:, 1, 2] -= object_shift[:, 1]
    post = np.tile(np.eye(3), (n, 1, 1))
    post[:, 0, 2] = c[0] + d[:, 0]
    post[:, 1, 2] = c[1] + d[:, 1]
    H = post @ A @ pre
    return H / H[:, 2:3, 2:3]


def apply_homographies(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map points ``(P, 2)`` by homographies ``(T, 3, 3)`` -> ``(T, P, 2)``."""
    ph = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    q = np.einsum("tij,pj->tpi", H, ph)
    return q[..., :2] / q[..., 2:3]


def corners(size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [(w - 1) / 2, (h - 1) / 2]], dtype=np.float64)


def path_lengths(H: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Length in pixels of the path of each corner and the centre (last) over the homographies ``H``."""
    q = apply_homographies(H, corners(size))
    if len(q) < 2:
        return np.zeros(q.shape[1])
    return np.linalg.norm(np.diff(q, axis=0), axis=2).sum(axis=0)


def object_motion(obj: dict | None, t: np.ndarray) -> np.ndarray | None:
    """Translation ``(len(t), 2)`` of an independently moving object (constant velocity)."""
    if obj is None:
        return None
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    v = obj["speed"]
    return np.stack([v * t * math.cos(obj["direction"]), v * t * math.sin(obj["direction"])], axis=1)


def subframe_times(exposure: float, n: int) -> np.ndarray:
    """``n`` sub-frame times evenly covering an exposure of ``exposure`` frames centred on 0 (odd ``n`` includes 0)."""
    if n <= 1 or exposure <= 0:
        return np.zeros(1)
    return exposure * ((np.arange(n) + 0.5) / n - 0.5)


def count_subframes(shake: dict, obj: dict | None, exposure: float, size: tuple[int, int], step: float,
                    max_subframes: int) -> int:
    """Sub-frames needed so no image corner (nor the object) moves more than ``step`` px between two."""
    if exposure <= 0:
        return 1
    t = np.linspace(-exposure / 2, exposure / 2, 33)
    length = float(path_lengths(shake_homographies(shake, t, size), size).max())
    if obj is not None:
        length = max(length, length + obj["speed"] * exposure)
    if length <= 1e-6:
        return 1
    n = int(math.ceil(length / step)) + 1
    return odd_subframes(n, max_subframes)


def odd_subframes(n: int, max_subframes: int) -> int:
    """``n`` clipped to ``[1, max_subframes]`` and made odd, so one sub-frame sits exactly at mid exposure
    (the sharp target's instant)."""
    n = int(min(max(n, 1), max_subframes))
    return n if n % 2 else max(1, n - 1)


def centre_path(H: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Offsets ``(T, 2)`` of the scene point seen at the output centre, relative to mid exposure."""
    c = corners(size)[-1:]
    return apply_homographies(H, c)[:, 0] - c[0]


def margin_bound(cam, size: tuple[int, int]) -> int:
    """An upper bound (pixels) on how far any output pixel looks outside the crop during one exposure,
    used as the fixed padding of the source so batches render identically to single samples."""
    h, w = size
    half = cam.exposure_frames[1] / 2.0
    r = math.hypot(w, h) / 2.0
    m = cam.speed[1] * half
    m += 3.0 * cam.jitter * half ** 1.5 / math.sqrt(3.0) + 1.0 if cam.jitter > 0 else 0.0
    m += r * math.radians(cam.rotation_max) * half
    m += r * (math.exp(cam.zoom_max * half) - 1.0)
    m += 2.0 * r * cam.perspective_max * half
    if cam.object_prob > 0:
        m += cam.object_speed[1] * half
    return int(min(math.ceil(m) + 2, 2 * max(h, w)))
