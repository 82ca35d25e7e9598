"""Camera presets: the parameters that make one simulated camera domain differ from another.

A :class:`Camera` describes *how* a camera blurs: exposure length, hand shake (translation,
in-plane rotation, zoom, perspective), an optional independently moving object, the camera response
function (CRF), Poisson-Gaussian sensor noise, saturated highlights and JPEG compression. Uniform
(convolutional) cameras replace the shake by a PSF drawn from a random trajectory generator or a
``.npz`` file of kernels.

Units: time is measured in *frames* of the camera's sub-frame clock ``fps`` (GoPro: 1/240 s);
motion in *pixels of the output image* (after the random downscale), per frame. Ranges are
``[low, high]`` and sampled uniformly per sample; ``*_max`` values are symmetric bounds ``[-x, x]``.

Presets (:func:`get_camera`): ``gopro``, ``reds``, ``phone``, ``rsblur``, ``uniform``; what each models
and its measured statistics are in :data:`PRESET_NOTES` (from ``benchmarks/sim_speed.py``); the
mean PSNR(blur, sharp) order ``gopro > reds > phone > rsblur`` is :data:`PSNR_ORDER` and is tested.
A user camera is a YAML file of the same fields (``camdeblur simulate --camera phone --print-yaml``
writes a template); unknown keys and out-of-range values raise a one-line
:class:`~camdeblur.errors.CamdeblurError` naming the field, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from camdeblur.errors import CamdeblurError

PathLike = str | os.PathLike

CRFS = ("linear", "gamma", "srgb", "tone")
KINDS = ("shake", "uniform")
KERNEL_SOURCES = ("random", "file")


def _f(default, lo, hi, doc, *, pair=False, integer=False, choices=None):
    """A dataclass field carrying its allowed range and one-line documentation."""
    meta = {"lo": lo, "hi": hi, "doc": doc, "pair": pair, "integer": integer, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda d=tuple(default): list(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Camera:
    """One simulated camera domain (see the module docstring for units)."""

    name: str = _f("custom", None, None, "name written into every sample's metadata")
    kind: str = _f("shake", None, None, "'shake': homography camera motion rendered frame by frame; "
                   "'uniform': convolution with one PSF per sample", choices=KINDS)
    # ---- scene framing
    scene_scale: list = _f([1.0, 3.0], 1.0, 16.0, "short side of the downscaled photo in units of the output "
                           "size (1 = the crop spans the photo's short side); never upscales a photo", pair=True)
    # ---- exposure and shake (kind = shake)
    fps: float = _f(240.0, 1.0, 10000.0, "sub-frame clock in frames per second (time unit of the motion parameters)")
    exposure_frames: list = _f([7, 13], 0, 400, "exposure length in frames, drawn per sample (0 = instantaneous)",
                               pair=True, integer=True)
    speed: list = _f([0.3, 1.6], 0.0, 64.0, "camera translation speed in output pixels per frame", pair=True)
    curvature_max: float = _f(0.02, 0.0, 3.2, "max turn rate of the translation direction, radians per frame")
    jitter: float = _f(0.03, 0.0, 16.0, "hand tremor: std of the random-walk velocity change, px/frame per sqrt(frame)")
    rotation_max: float = _f(0.02, 0.0, 10.0, "max in-plane rotation speed, degrees per frame")
    zoom_max: float = _f(0.0005, 0.0, 0.1, "max zoom speed, relative scale change per frame")
    perspective_max: float = _f(0.0002, 0.0, 0.05, "max perspective (tilt) speed per frame, in units of 1/output size")
    subframe_step: float = _f(1.0, 0.05, 8.0, "rendered sub-frames are spaced so the fastest image corner moves at "
                              "most this many pixels between them")
    max_subframes: int = _f(48, 1, 1024, "upper bound on rendered sub-frames per sample (speed cap)", integer=True)
    # ---- independently moving object
    object_prob: float = _f(0.0, 0.0, 1.0, "probability that a sample contains one independently moving object")
    object_speed: list = _f([1.0, 3.0], 0.0, 64.0, "object speed in output pixels per frame", pair=True)
    object_size: list = _f([0.15, 0.35], 0.01, 1.0, "object ellipse radius as a fraction of the output size", pair=True)
    # ---- uniform blur (kind = uniform)
    kernel_source: str = _f("random", None, None, "'random' (random camera-shake trajectory) or 'file' (kernel_file)",
                            choices=KERNEL_SOURCES)
    kernel_file: str = _f("", None, None, "path of a .npz of 2-D PSFs (each array one kernel) when kernel_source='file'")
    kernel_size: list = _f([9, 25], 1, 101, "random PSF support in pixels (odd sizes are used)", pair=True, integer=True)
    kernel_length: list = _f([3.0, 16.0], 0.0, 100.0, "random PSF trajectory length in pixels", pair=True)
    # ---- response, sensor, processing
    crf: str = _f("gamma", None, None, "camera response: 'linear', 'gamma' (x^(1/gamma)), 'srgb', 'tone' "
                  "(sRGB then a contrast S-curve of strength tone)", choices=CRFS)
    gamma: float = _f(2.2, 1.0, 4.0, "gamma of crf='gamma'")
    tone: float = _f(0.0, 0.0, 0.95, "S-curve strength of crf='tone' (0 = plain sRGB)")
    shot_noise: list = _f([0.0, 0.0], 0.0, 0.1, "Poisson (signal-dependent) noise: variance = shot_noise * linear "
                          "intensity", pair=True)
    read_noise: list = _f([0.0, 0.0], 0.0, 0.2, "Gaussian read noise std in linear intensity", pair=True)
    highlight_prob: float = _f(0.0, 0.0, 1.0, "probability that bright pixels are treated as saturated light sources")
    highlight_threshold: float = _f(0.9, 0.0, 0.999, "linear intensity above which pixels are boosted")
    highlight_gain: list = _f([1.0, 1.0], 1.0, 100.0, "boost factor of the brightest pixels before blur (then clipped)",
                              pair=True)
    jpeg_prob: float = _f(0.0, 0.0, 1.0, "probability of JPEG compression of the blurry image")
    jpeg_quality: list = _f([90, 95], 1, 100, "JPEG quality range", pair=True, integer=True)

    # ------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "Camera":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def noisy(self) -> bool:
        return max(self.shot_noise) > 0 or max(self.read_noise) > 0

    def to_yaml(self, comments: bool = True) -> str:
        """YAML text of this camera; with ``comments`` every field carries its doc and allowed range."""
        import yaml

        lines = [f"# camdeblur camera '{self.name}'. Edit and load with --camera-yaml FILE.",
                 "# Units: time in frames of `fps`; motion in output pixels per frame; [low, high] ranges are"
                 " sampled per sample."]
        for f in fields(self):
            value = getattr(self, f.name)
            text = yaml.safe_dump({f.name: value}, default_flow_style=True, sort_keys=False).strip()
            if text.startswith("{") and text.endswith("}"):
                text = text[1:-1]
            if comments:
                lines.append(f"# {f.metadata['doc']} [{_range_text(f)}]")
            lines.append(text)
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> "Camera":
        """A validated camera from a mapping; ``base: <preset>`` starts from a preset's values."""
        if not isinstance(data, dict):
            raise CamdeblurError("camera YAML must be a mapping of field: value", where=where,
                                 fix="start from `camdeblur simulate --camera gopro --print-yaml`")
        data = dict(data)
        base = data.pop("base", None)
        if base is not None:
            if str(base) not in PRESETS:
                raise CamdeblurError(f"unknown base preset '{base}'", where=where, fix=f"one of {', '.join(PRESETS)}")
            data = {**PRESETS[str(base)], **data}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CamdeblurError(f"unknown camera field '{unknown[0]}'", where=where,
                                 fix=f"allowed fields: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except CamdeblurError as exc:
            raise CamdeblurError(exc.what, where=where or exc.where, fix=exc.fix) from None


def _range_text(f) -> str:
    m = f.metadata
    if m["choices"]:
        return "one of " + ", ".join(m["choices"])
    if m["lo"] is None:
        return "text"
    kind = "integers" if m["integer"] else "numbers"
    shape = "[low, high] with low <= high, " if m["pair"] else ""
    return f"{shape}{kind} in {m['lo']}..{m['hi']}"


def _bad(f, value, extra: str = "") -> CamdeblurError:
    return CamdeblurError(f"camera field '{f.name}' = {value!r} is out of range{extra}", where=None,
                          fix=f"allowed: {_range_text(f)}")


def _check_number(f, v) -> float:
    m = f.metadata
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        raise CamdeblurError(f"camera field '{f.name}' = {v!r} is not a number", fix=f"allowed: {_range_text(f)}")
    if m["integer"] and not float(v).is_integer():
        raise CamdeblurError(f"camera field '{f.name}' = {v!r} is not an integer", fix=f"allowed: {_range_text(f)}")
    if not (m["lo"] <= v <= m["hi"]):
        raise _bad(f, v)
    return v


def validate(cam: Camera) -> None:
    """Range-check every field; raise one :class:`CamdeblurError` naming the first bad field."""
    for f in fields(cam):
        m = f.metadata
        v = getattr(cam, f.name)
        if m["choices"]:
            if v not in m["choices"]:
                raise CamdeblurError(f"camera field '{f.name}' = {v!r} is not allowed", fix=f"allowed: {_range_text(f)}")
        elif m["lo"] is None:
            if not isinstance(v, str):
                raise CamdeblurError(f"camera field '{f.name}' = {v!r} must be text")
        elif m["pair"]:
            if not isinstance(v, (list, tuple)) or len(v) != 2:
                raise CamdeblurError(f"camera field '{f.name}' = {v!r} must be a [low, high] pair",
                                     fix=f"allowed: {_range_text(f)}")
            lo, hi = (_check_number(f, x) for x in v)
            if lo > hi:
                raise _bad(f, list(v), " (low > high)")
            setattr(cam, f.name, [int(x) if m["integer"] else float(x) for x in (lo, hi)])
        else:
            _check_number(f, v)
            setattr(cam, f.name, int(v) if m["integer"] else float(v))
    if cam.kind == "uniform" and cam.kernel_source == "file":
        if not cam.kernel_file:
            raise CamdeblurError("camera field 'kernel_file' is empty but kernel_source = 'file'",
                                 fix="give the path of a .npz of PSFs, or kernel_source: random")
    if cam.kind == "shake" and cam.exposure_frames[1] > 0 and cam.max_subframes < 1:  # pragma: no cover
        raise CamdeblurError("camera field 'max_subframes' must be >= 1")


# ----------------------------------------------------------------------------------------- presets
#: Preset overrides of the :class:`Camera` defaults. Documented differences (measured values at 256x256
#: by ``benchmarks/sim_speed.py`` are quoted in ``PRESET_NOTES``).
PRESETS: dict[str, dict[str, Any]] = {
    # GoPro (Nah et al. 2017): 240 fps frames, 7-13 averaged through a gamma-2.2 CRF, clean, short
    # mostly straight shake, some independently moving objects (people, cars).
    "gopro": dict(name="gopro", fps=240.0, exposure_frames=[7, 13], speed=[0.3, 1.6], curvature_max=0.02,
                  jitter=0.03, rotation_max=0.02, zoom_max=0.0005, perspective_max=0.0002,
                  object_prob=0.3, object_speed=[0.5, 2.0], crf="gamma", gamma=2.2),
    # REDS (Nah et al. 2019): 120 fps video interpolated to 1920 fps, longer exposures, a smoother
    # measured-like CRF (sRGB with mild tone curve), no noise.
    "reds": dict(name="reds", fps=120.0, exposure_frames=[5, 11], speed=[0.8, 2.6], curvature_max=0.08,
                 jitter=0.08, rotation_max=0.05, zoom_max=0.001, perspective_max=0.0004,
                 object_prob=0.4, object_speed=[1.0, 3.0], crf="tone", tone=0.2),
    # A phone in low light: 30-60 fps video, long exposures (1/30-1/15 s), curved hand shake,
    # signal-dependent noise, strong tone curve, JPEG.
    "phone": dict(name="phone", fps=60.0, exposure_frames=[2, 4], speed=[3.5, 10.0], curvature_max=0.6,
                  jitter=0.8, rotation_max=0.15, zoom_max=0.002, perspective_max=0.001,
                  object_prob=0.2, object_speed=[2.0, 6.0], crf="tone", tone=0.45,
                  shot_noise=[0.001, 0.004], read_noise=[0.002, 0.005], highlight_prob=0.3,
                  highlight_threshold=0.92, highlight_gain=[1.5, 4.0], jpeg_prob=1.0, jpeg_quality=[70, 92],
                  max_subframes=64),
    # RSBlur (Rim et al. 2022): real long exposures, sensor noise added in linear space, saturated
    # light sources that become streaks; sRGB ISP; no JPEG.
    "rsblur": dict(name="rsblur", fps=120.0, exposure_frames=[8, 16], speed=[0.8, 2.2], curvature_max=0.15,
                   jitter=0.15, rotation_max=0.05, zoom_max=0.001, perspective_max=0.0004,
                   crf="srgb", shot_noise=[0.001, 0.004], read_noise=[0.002, 0.006], highlight_prob=1.0,
                   highlight_threshold=0.85, highlight_gain=[2.0, 6.0], max_subframes=64),
    # Uniform (convolutional) blur with random camera-shake PSFs, linear response, no noise: the
    # setting of the kernel-space paper's blur-transfer check. blur = sharp (*) psf exactly.
    "uniform": dict(name="uniform", kind="uniform", crf="linear", kernel_source="random", kernel_size=[9, 25],
                    kernel_length=[3.0, 16.0]),
}

#: What each preset models, with statistics measured by ``python benchmarks/sim_speed.py`` (256x256,
#: 96 samples, seed 1; CPU, 2 cores shared): mean +- std PSNR(blur, sharp) in dB, mean blur length
#: (path of the centre pixel during the exposure) in px, predicted noise std on mid grey (display units).
PRESET_NOTES: dict[str, str] = {
    "gopro": "7-13 frames at 240 fps, gamma 2.2, clean, 30% moving objects; PSNR 27.6 +- 6.2, blur 8.8 px, noise 0",
    "reds": "5-11 frames at 120 fps, sRGB + mild tone curve, clean, 40% moving objects; PSNR 25.6 +- 5.6, "
            "blur 13.0 px, noise 0",
    "phone": "1/30-1/15 s at 60 fps, long curved shake, Poisson-Gaussian noise, strong tone curve, JPEG 70-92; "
             "PSNR 23.4 +- 4.5, blur 19.7 px, noise 0.031",
    "rsblur": "8-16 frames at 120 fps, sRGB, Poisson-Gaussian noise, saturated light sources boosted 2-6x; "
              "PSNR 22.2 +- 4.0, blur 17.5 px, noise 0.025",
    "uniform": "convolution with random shake PSFs 9-25 px (paths 3-16 px), linear response, clean; PSNR 31.8 +- 6.7",
}

#: Documented order of mean PSNR(blur, sharp), highest first (checked by tests/test_sim_camera.py).
PSNR_ORDER: tuple[str, ...] = ("gopro", "reds", "phone", "rsblur")


def list_cameras() -> list[str]:
    """Names of the built-in camera presets."""
    return list(PRESETS)


def load_camera_yaml(path: PathLike) -> Camera:
    """A :class:`Camera` from a YAML file (fields as in ``--print-yaml``; ``base: <preset>`` starts from a preset)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CamdeblurError("camera YAML not found", where=path, fix="check the path")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CamdeblurError(f"not valid YAML ({str(exc).splitlines()[0]})", where=path) from None
    cam = Camera.from_dict(data if data is not None else {}, where=str(path))
    if cam.kernel_file and not Path(cam.kernel_file).is_absolute() and (path.parent / cam.kernel_file).is_file():
        cam = cam.replace(kernel_file=str((path.parent / cam.kernel_file).resolve()))  # relative to the YAML file
    return cam


def get_camera(name_or_path: str | PathLike | Camera, **overrides) -> Camera:
    """A camera by preset name (``gopro``, ``reds``, ``phone``, ``rsblur``, ``uniform``) or YAML path.

    ``overrides`` replace fields (validated). A :class:`Camera` passes through (with overrides applied).
    """
    if isinstance(name_or_path, Camera):
        cam = name_or_path
    else:
        key = str(name_or_path)
        if key in PRESETS:
            cam = Camera(**PRESETS[key])
        elif key.lower().endswith((".yaml", ".yml")) or Path(key).is_file():
            cam = load_camera_yaml(key)
        else:
            raise CamdeblurError(f"unknown camera '{key}'", where="--camera",
                                 fix=f"one of {', '.join(PRESETS)}, or a YAML file (--camera-yaml)")
    return cam.replace(**overrides) if overrides else cam
