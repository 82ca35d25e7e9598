"""Video files to frames and frames to video, through PyAV (FFmpeg bundled in its wheels).

Optional: install with ``pip install 'camdeblur[video]'``. PyAV is imported only when a function
here runs, so the rest of camdeblur works without it; without it these functions raise one
:class:`~camdeblur.errors.CamdeblurError` line naming the extra.

Frames are uint8 ``(H, W, 3)`` RGB numpy arrays (convert with ``frame / 255`` for the float
contract). Writing is atomic: a temp file beside the target is renamed into place when complete.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from camdeblur.errors import CamdeblurError, optional_import

PathLike = str | os.PathLike

#: Container format per extension, and the preferred codecs (first available wins).
_CONTAINERS = {".mp4": ("mp4", ("libx264", "h264", "mpeg4")), ".m4v": ("mp4", ("libx264", "h264", "mpeg4")),
               ".mov": ("mov", ("libx264", "h264", "mpeg4")), ".mkv": ("matroska", ("libx264", "h264", "mpeg4")),
               ".avi": ("avi", ("mpeg4", "mjpeg"))}
VIDEO_EXTENSIONS: tuple[str, ...] = tuple(_CONTAINERS) + (".webm", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass
class VideoInfo:
    """What a video holds.

    Attributes:
        fps: average frame rate (frames per second).
        frames: number of decodable frames (counted from the stream's packets, not the header,
            which some AVI files get wrong).
        width, height: frame size in pixels.
        duration: seconds (``frames / fps`` when the container does not say).
        codec: codec name, e.g. ``"h264"``, ``"mpeg4"``, ``"cinepak"``.
    """

    fps: float
    frames: int
    width: int
    height: int
    duration: float
    codec: str

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width


def _av():
    return optional_import("av", extra="video", feature="video input/output")


def _open_for_reading(path: Path):
    av = _av()
    if not path.exists():
        raise CamdeblurError("video file not found", where=path, fix="check the path and spelling")
    if path.is_dir():
        raise CamdeblurError("is a folder, not a video file", where=path, fix="give a video file (.mp4, .avi, ...)")
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise CamdeblurError(f"not a readable video ({_reason(exc)})", where=path,
                             fix="give an .mp4/.avi/.mkv/.mov video, or re-encode it with ffmpeg") from None
    if not container.streams.video:
        container.close()
        raise CamdeblurError("file has no video stream", where=path, fix="give a file that contains video")
    return av, container


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def video_info(path: PathLike) -> VideoInfo:
    """Frame rate, frame count, size, duration and codec of a video (demuxes, does not decode)."""
    path = Path(path)
    av, container = _open_for_reading(path)
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        try:
            frames = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        except av.error.FFmpegError as exc:
            raise CamdeblurError(f"video is truncated or corrupt ({_reason(exc)})", where=path,
                                 fix="re-copy or re-encode the file") from None
        cc = stream.codec_context
        if container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = frames / fps if fps else 0.0
        return VideoInfo(fps=fps, frames=frames, width=int(cc.width), height=int(cc.height),
                         duration=float(duration), codec=str(cc.name))


def iter_video_frames(path: PathLike, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[np.ndarray]:
    """Decode a video's frames in order as uint8 ``(H, W, 3)`` RGB arrays.

    The file is opened (and a missing or unreadable file reported) when this is called, not at the
    first ``next()``, so a command fails before it creates any output.

    Args:
        path: video file (anything FFmpeg reads: .mp4, .avi, .mkv, .mov, ...).
        start, stop, step: which frames (by decoded index, like ``range``) to yield.
    """
    if step < 1 or start < 0:
        raise ValueError("need start >= 0 and step >= 1")
    path = Path(path)
    av, container = _open_for_reading(path)
    return _decode(av, container, path, start, stop, step)


def _decode(av, container, path: Path, start: int, stop: int | None, step: int) -> Iterator[np.ndarray]:
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                if stop is not None and i >= stop:
                    break
                if i >= start and (i - start) % step == 0:
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise CamdeblurError(f"video is truncated or corrupt ({_reason(exc)})", where=path,
                                 fix="re-copy or re-encode the file") from None


def _to_uint8(frame) -> np.ndarray:
    if hasattr(frame, "detach"):
        from camdeblur.io.image import to_numpy

        frame = to_numpy(frame)
    a = np.asarray(frame)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"video frames must be (H, W, 3) or (H, W), got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype != np.uint8:
        a = np.rint(np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0) * 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def write_video(path: PathLike, frames: Iterable, fps: float, *, codec: str | None = None, crf: int = 18,
                bit_rate: int | None = None) -> VideoInfo:
    """Encode frames into a video file, atomically.

    Args:
        path: output file; ``.mp4``/``.mkv``/``.mov`` (H.264 via libx264, else MPEG-4 Part 2) or
            ``.avi`` (MPEG-4 Part 2). Parent folders are created.
        frames: iterable of uint8 ``(H, W, 3)`` arrays, float ``(H, W, 3)`` in [0, 1] (or grey
            ``(H, W)``), or torch ``(3, H, W)``; all the same size. Odd sizes are padded by one
            edge row/column (H.264 and MPEG-4 need even sizes) with a warning.
        fps: frame rate.
        codec: force an FFmpeg encoder name (e.g. ``"mpeg4"``, ``"libx264"``, ``"mjpeg"``).
        crf: H.264 constant rate factor (lower is better; 18 is visually lossless).
        bit_rate: bits per second for non-H.264 codecs (default scales with frame size and fps).

    Returns:
        :class:`VideoInfo` of what was written (frame count, size, fps, codec).

    Raises:
        CamdeblurError: unsupported extension, no frames, frames of different sizes, unwritable output.
    """
    av = _av()
    path = Path(path)
    spec = _CONTAINERS.get(path.suffix.lower())
    if spec is None:
        raise CamdeblurError(f"unsupported video format '{path.suffix or '(no extension)'}'", where=path,
                             fix="use a .mp4, .avi, .mkv or .mov file name")
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    fmt, codecs = spec
    if codec is None:
        codec = next((c for c in codecs if c in av.codecs_available), None)
        if codec is None:
            raise CamdeblurError(f"this FFmpeg build has none of the encoders {codecs}", where=path,
                                 fix="install the PyAV wheel from PyPI ('pip install av'), which bundles them")
    it = iter(frames)
    try:
        first = _to_uint8(next(it))
    except StopIteration:
        raise CamdeblurError("no frames to write", where=path, fix="give at least one frame") from None
    h, w = first.shape[:2]
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        warnings.warn(f"frame size {w}x{h} is odd; padding to {pw}x{ph} for the video encoder", stacklevel=2)

    from camdeblur.utils import atomic_path

    count = 0
    rate = Fraction(fps).limit_denominator(100_000)
    try:
        with atomic_path(path) as tmp:
            with av.open(str(tmp), "w", format=fmt) as out:
                stream = out.add_stream(codec, rate=rate)
                stream.width, stream.height = pw, ph
                stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
                if codec in ("libx264", "h264"):
                    stream.options = {"crf": str(int(crf)), "preset": "medium"}
                else:
                    stream.bit_rate = int(bit_rate or max(2_000_000, pw * ph * float(fps) * 2))
                for i, arr in enumerate(_chain(first, it)):
                    if i:
                        arr = _to_uint8(arr)
                    if arr.shape[:2] != (h, w):
                        raise CamdeblurError(f"frame {i} is {arr.shape[1]}x{arr.shape[0]}, the first was {w}x{h}",
                                             where=path, fix="resize all frames to one size")
                    if (ph, pw) != (h, w):
                        arr = np.pad(arr, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
                    for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                        out.mux(packet)
                    count += 1
                for packet in stream.encode(None):
                    out.mux(packet)
    except PermissionError as exc:
        raise CamdeblurError(f"cannot write video ({exc.strerror or 'permission denied'})", where=path,
                             fix="choose a writable output folder") from None
    except OSError as exc:
        if isinstance(exc, av.error.FFmpegError) or exc.errno is None:
            raise
        raise CamdeblurError(f"cannot write video ({exc.strerror or exc})", where=path,
                             fix="check the output folder exists, is writable and has free space") from None
    return VideoInfo(fps=float(fps), frames=count, width=pw, height=ph, duration=count / float(fps), codec=codec)


def _chain(first, rest):
    yield first
    yield from rest


def frames_to_folder(video: PathLike, folder: PathLike, *, pattern: str = "{index:06d}.png", start: int = 0,
                     stop: int | None = None, step: int = 1, overwrite: bool = False) -> list[Path]:
    """Decode a video into numbered image files (``000000.png``, ``000001.png``, ...).

    ``pattern`` is formatted with ``index`` (the frame's index in the video). Existing files are
    never replaced unless ``overwrite=True``.

    Returns:
        the written paths, in frame order.
    """
    from camdeblur.io.image import write_image

    folder = Path(folder)
    written = []
    index = start
    for frame in iter_video_frames(video, start=start, stop=stop, step=step):
        dst = folder / pattern.format(index=index)
        if dst.exists() and not overwrite:
            raise CamdeblurError("output frame already exists", where=dst,
                                 fix="choose an empty folder or pass overwrite=True")
        written.append(write_image(dst, frame))
        index += step
    if not written:
        raise CamdeblurError("no frames decoded from the video (empty range?)", where=video,
                             fix="check start/stop/step and that the file holds video")
    return written


def folder_to_video(folder: PathLike, video: PathLike, fps: float, *, recursive: bool = False, **kw) -> VideoInfo:
    """Encode a folder of same-size images (natural order: ``2.png`` before ``10.png``) as a video.

    Extra keyword arguments go to :func:`write_video`.
    """
    from camdeblur.io.image import check_not_input, list_images, read_rgb

    paths = list_images(folder, recursive=recursive)
    if not paths:
        raise CamdeblurError("no images in folder", where=folder, fix="give a folder of PNG/JPEG/TIFF/WebP frames")
    check_not_input(video, paths)
    return write_video(video, (read_rgb(p) for p in paths), fps, **kw)
