"""Reading and writing still images: PNG, JPEG, TIFF, WebP (and BMP), 8 and 16 bit.

In memory an image is numpy float32 ``(H, W, C)`` in ``[0, 1]`` with ``C = 3`` (RGB) or ``C = 1``
(grey). Alpha never enters the model: :func:`read_image` keeps it aside in :class:`ImageData` and
:func:`write_image` writes it back. EXIF orientation is applied on read, so pixels come out the way
a photo viewer shows them. Files are written atomically (temp file + rename) with the bit depth of
the input, so a 16-bit PNG/TIFF stays 16-bit and round-trips exactly.

Decoders: Pillow for everything 8-bit and 16-bit grey; the built-in exact codec
(:mod:`camdeblur.io.png16`) for 16-bit colour PNG, which Pillow truncates to 8 bits; ``tifffile``
(a scikit-image dependency) for 16-bit colour TIFF.

Every user-facing failure (missing file, not an image, truncated or corrupt data, unwritable
output) raises :class:`~camdeblur.errors.CamdeblurError` with one line: what, where, what to do.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from camdeblur.errors import CamdeblurError

if TYPE_CHECKING:  # pragma: no cover
    import torch

PathLike = str | os.PathLike

#: Extensions :func:`list_images` picks up (lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
#: Output format by extension (Pillow format name).
_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                  ".webp": "WEBP", ".bmp": "BMP"}
_FIX_FORMAT = "use a PNG, JPEG, TIFF or WebP image"


@dataclass
class ImageData:
    """An image as read from disk.

    Attributes:
        data: float32 ``(H, W, C)`` in ``[0, 1]``, ``C = 3`` (RGB) or ``1`` (grey); EXIF orientation applied.
        alpha: float32 ``(H, W)`` in ``[0, 1]`` or ``None``; kept aside, never part of ``data``.
        bit_depth: 8 or 16 — the precision of the file; write outputs with it.
        mode: colour mode of the file: a Pillow mode name (``"L"``, ``"RGB"``, ``"RGBA"``, ``"P"``,
            ``"LA"``, ``"I;16"``, ...) or ``"L;16"``, ``"LA;16"``, ``"RGB;16"``, ``"RGBA;16"`` for
            16-bit files.
        path: where it was read from.
        format: file format (``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"WEBP"``, ...).
    """

    data: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    mode: str
    path: Path | None = None
    format: str | None = None

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def channels(self) -> int:
        return int(self.data.shape[2])

    def rgb(self) -> np.ndarray:
        """``data`` as ``(H, W, 3)`` (grey repeated)."""
        return self.data if self.channels == 3 else np.repeat(self.data, 3, axis=2)


# ----------------------------------------------------------------------------------------- reading
def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CamdeblurError("file not found", where=path, fix="check the path and spelling")
    if path.is_dir():
        raise CamdeblurError("is a folder, not an image file", where=path, fix="give an image file")
    if not os.access(path, os.R_OK):
        raise CamdeblurError("file is not readable (permission denied)", where=path, fix="check its permissions")


def _corrupt(path: Path, reason: str) -> CamdeblurError:
    reason = str(reason).strip().splitlines()[0] if str(reason).strip() else "unknown decoder error"
    return CamdeblurError(f"image is truncated or corrupt ({reason})", where=path,
                          fix="re-copy or re-export the file, or remove it from the folder")


_ORIENT_OPS = {  # EXIF orientation -> numpy ops making the image upright (same as PIL.ImageOps.exif_transpose)
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _orient(a: np.ndarray, orientation: int | None) -> np.ndarray:
    op = _ORIENT_OPS.get(int(orientation or 1))
    return np.ascontiguousarray(op(a)) if op else a


def _split(pixels: np.ndarray, scale: float, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """uint (H, W, C) -> (float data (H, W, 1|3), alpha or None)."""
    f = pixels.astype(np.float32) / np.float32(scale)
    if has_alpha:
        return np.ascontiguousarray(f[..., :-1]), np.ascontiguousarray(f[..., -1])
    return np.ascontiguousarray(f), None


def _read_png16(path: Path, blob: bytes, apply_exif: bool = True) -> ImageData:
    from PIL import Image

    from camdeblur.io.png16 import read_png16

    try:
        px, info = read_png16(blob)
    except ValueError as exc:
        raise _corrupt(path, exc) from None
    ch = px.shape[2]
    if info["exif"] and apply_exif:
        exif = Image.Exif()
        try:
            exif.load(info["exif"])
            orientation = exif.get(0x0112)
        except Exception:  # noqa: BLE001 - malformed EXIF: keep the pixels as stored
            warnings.warn(f"{path}: unreadable EXIF block; orientation not applied", stacklevel=3)
            orientation = None
        px = _orient(px, orientation)
    data, alpha = _split(px, 65535.0, ch in (2, 4))
    if alpha is None and info["transparent"] is not None and len(info["transparent"]) == ch:
        key = np.array(info["transparent"], dtype=np.uint16)
        alpha = (~np.all(px == key, axis=2)).astype(np.float32)
    mode = {1: "L;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[ch]
    return ImageData(data, alpha, 16, mode, path, "PNG")


def _read_tiff16(path: Path, apply_exif: bool = True) -> ImageData | None:
    """High-bit-depth multi-sample TIFF via tifffile; ``None`` for anything Pillow decodes fully."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            photometric = int(page.photometric)
            if photometric not in (1, 2):  # MINISBLACK, RGB; palette/CMYK/YCbCr -> Pillow
                return None
            if int(page.bitspersample) <= 8 or (int(page.samplesperpixel) == 1 and int(page.bitspersample) == 16):
                return None  # 8-bit anything and 16-bit grey: Pillow is exact
            arr = page.asarray()
            spp = int(page.samplesperpixel)
            planar = int(page.planarconfig)
            tag = page.tags.get("Orientation")
            orientation = int(tag.value) if tag is not None and apply_exif else 1
    except ValueError as exc:
        if "imagecodecs" in str(exc):
            raise CamdeblurError(f"16-bit TIFF uses a compression that needs the 'imagecodecs' package ({exc})",
                                 where=path, fix="pip install imagecodecs, or re-save it uncompressed or with deflate/zip") from None
        raise _corrupt(path, exc) from None
    except Exception:  # noqa: BLE001 - let Pillow try, it reports its own error
        return None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim == 3 and planar == 2 and arr.shape[0] == spp:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim != 3:
        raise CamdeblurError(f"unsupported TIFF layout (array shape {arr.shape})", where=path,
                             fix="save the image as a single-page RGB or grey TIFF")
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.clip(np.nan_to_num(arr.astype(np.float32)), 0, 1)
        scale = 1.0
    elif arr.dtype == np.uint16:
        scale = 65535.0
    elif arr.dtype == np.uint8:
        return None
    else:
        info = np.iinfo(arr.dtype)
        arr = np.clip(arr.astype(np.float64) / info.max, 0, 1)
        scale = 1.0
    c = arr.shape[2]
    base = 3 if photometric == 2 else 1
    has_alpha = c > base
    arr = _orient(arr[..., : base + (1 if has_alpha else 0)], orientation)
    data, alpha = _split(arr, scale, has_alpha)
    mode = ("RGB" if base == 3 else "L") + ("A" if has_alpha else "") + ";16"
    return ImageData(data, alpha, 16, mode, path, "TIFF")


def _pil_to_imagedata(im, path: Path, fmt: str | None) -> ImageData:
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        if mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
            a = np.clip(a, 0, 65535)
        return ImageData(_split(a.astype(np.uint16)[..., None], 65535.0, False)[0], None, 16, mode, path, fmt)
    if mode == "F":
        a = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0, 1)[..., None]
        return ImageData(np.ascontiguousarray(a), None, 16, mode, path, fmt)
    if mode == "1":
        im = im.convert("L")
    elif mode == "P" or mode == "PA":
        im = im.convert("RGBA" if (mode == "PA" or "transparency" in im.info) else "RGB")
    elif mode in ("RGBa", "La"):
        im = im.convert("RGBA")
    elif mode == "L" and "transparency" in im.info:
        im = im.convert("LA")
    elif mode == "RGB" and "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGB")
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[..., None]
    has_alpha = im.mode in ("LA", "RGBA")
    data, alpha = _split(a, 255.0, has_alpha)
    if alpha is not None and np.all(alpha == 1.0) and mode in ("RGB", "L"):
        alpha = None
    return ImageData(data, alpha, 8, mode, path, fmt)


def read_image(path: PathLike, *, apply_exif: bool = True) -> ImageData:
    """Read an image file into :class:`ImageData` (float32 ``(H, W, C)`` in [0, 1] plus alpha aside).

    Args:
        path: PNG, JPEG, TIFF, WebP or BMP file; 8- or 16-bit; grey, grey+alpha, RGB, RGBA, palette.
        apply_exif: rotate/flip according to the EXIF orientation tag (default) so the result is upright.

    Raises:
        CamdeblurError: missing file, a folder, not an image, truncated or corrupt data.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    _check_readable(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if len(head) >= 29 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] in (0, 2, 4, 6):
                fh.seek(0)
                return _read_png16(path, fh.read(), apply_exif)
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                out = _read_tiff16(path, apply_exif)  # None unless 16-bit colour/alpha, which Pillow cannot hold
                if out is not None:
                    return out
    except OSError as exc:
        raise CamdeblurError(f"cannot read file ({exc.strerror or exc})", where=path, fix="check the file and its permissions") from None
    try:
        with Image.open(path) as im:
            fmt = im.format
            im.load()
            if apply_exif:
                try:
                    im = ImageOps.exif_transpose(im)
                except Exception:  # noqa: BLE001 - malformed EXIF must not make a good image unreadable
                    warnings.warn(f"{path}: unreadable EXIF block; orientation not applied", stacklevel=2)
            return _pil_to_imagedata(im, path, fmt)
    except CamdeblurError:
        raise
    except UnidentifiedImageError:
        raise CamdeblurError("not a readable image (unrecognised format)", where=path, fix=_FIX_FORMAT) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _corrupt(path, exc) from None
    except Image.DecompressionBombError as exc:
        raise CamdeblurError(f"image is too large to open safely ({exc})", where=path,
                             fix="downscale it first") from None


def read_rgb(path: PathLike) -> np.ndarray:
    """Read an image as float32 ``(H, W, 3)`` in [0, 1] (grey repeated to three channels, alpha dropped)."""
    return read_image(path).rgb()


# ----------------------------------------------------------------------------------------- writing
def _as_hwc(data) -> np.ndarray:
    if hasattr(data, "detach"):  # torch tensor
        data = to_numpy(data)
    a = np.asarray(data)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"write_image expects (H, W), (H, W, 1) or (H, W, 3) image data, got shape {a.shape}")
    return a


def _quantize(a: np.ndarray, bit_depth: int) -> np.ndarray:
    """float [0, 1] (or uint8/uint16 already quantised) -> uint of ``bit_depth`` bits."""
    if a.dtype == np.uint8:
        return a if bit_depth == 8 else a.astype(np.uint16) * 257
    if a.dtype == np.uint16:
        return a if bit_depth == 16 else ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    f = np.asarray(a, dtype=np.float32)
    if not np.isfinite(f).all():
        warnings.warn("image data has NaN/inf values; writing them as 0/1", RuntimeWarning, stacklevel=3)
        f = np.nan_to_num(f, nan=0.0, posinf=1.0, neginf=0.0)
    peak = 65535.0 if bit_depth == 16 else 255.0
    q = np.rint(np.clip(f, 0.0, 1.0) * np.float32(peak))
    return q.astype(np.uint16 if bit_depth == 16 else np.uint8)


def write_image(path: PathLike, data, bit_depth: int = 8, alpha=None, *, quality: int | None = None) -> Path:
    """Write an image atomically (temp file + rename); parent folders are created.

    Args:
        path: output file; the extension picks the format (.png .jpg/.jpeg .tif/.tiff .webp .bmp).
        data: float ``(H, W, C)``/``(H, W)`` in [0, 1] (values are clipped), uint8/uint16 arrays, or a
            torch tensor ``(C, H, W)``/``(1, C, H, W)``; ``C`` is 1 (grey) or 3 (RGB).
        bit_depth: 8 or 16 (pass ``ImageData.bit_depth`` to keep the input's). 16-bit is written for
            PNG and TIFF; JPEG/WebP/BMP are 8-bit formats and get 8 bits (with a warning).
        alpha: optional ``(H, W)`` alpha in [0, 1] written back as the alpha channel (dropped with a
            warning for JPEG/BMP, which cannot store it).
        quality: JPEG/WebP quality 1-100; default JPEG 95 (4:4:4), WebP lossless.

    Returns:
        the written path.

    Raises:
        CamdeblurError: unsupported extension or unwritable location.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CamdeblurError(f"unsupported output format '{path.suffix or '(no extension)'}'", where=path,
                             fix="use a .png, .jpg, .tif or .webp file name")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    a = _as_hwc(data)
    if alpha is not None:
        alpha = np.asarray(alpha.detach().cpu() if hasattr(alpha, "detach") else alpha)
        alpha = alpha.reshape(alpha.shape[-2:]) if alpha.ndim > 2 else alpha
        if alpha.shape != a.shape[:2]:
            raise ValueError(f"alpha shape {alpha.shape} does not match image size {a.shape[:2]}")
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        warnings.warn(f"{fmt} stores 8 bits per channel; writing {path.name} as 8-bit", stacklevel=2)
        bit_depth = 8
    if alpha is not None and fmt in ("JPEG", "BMP"):
        warnings.warn(f"{fmt} cannot store alpha; dropping it for {path.name}", stacklevel=2)
        alpha = None
    px = _quantize(a, bit_depth)
    if alpha is not None:
        px = np.concatenate([px, _quantize(alpha[..., None], bit_depth)], axis=2)

    from camdeblur.utils import atomic_path

    try:
        with atomic_path(path) as tmp:
            _encode(tmp, px, fmt, bit_depth, quality)
    except PermissionError as exc:
        raise CamdeblurError(f"cannot write image ({exc.strerror or 'permission denied'})", where=path,
                             fix="choose a writable output folder") from None
    except OSError as exc:
        if exc.errno is None:
            raise
        raise CamdeblurError(f"cannot write image ({exc.strerror or exc})", where=path,
                             fix="check the output folder exists, is writable and has free space") from None
    return path


def _encode(tmp: Path, px: np.ndarray, fmt: str, bit_depth: int, quality: int | None) -> None:
    from PIL import Image

    ch = px.shape[2]
    if bit_depth == 16:
        if fmt == "PNG":
            if ch == 1:
                Image.fromarray(px[..., 0]).save(tmp, format="PNG")  # Pillow's I;16 path is exact
            else:
                from camdeblur.io.png16 import write_png16

                with open(tmp, "wb") as fh:
                    write_png16(fh, px)
            return
        import tifffile

        photometric = "rgb" if ch >= 3 else "minisblack"
        extra = ["unassalpha"] if ch in (2, 4) else None
        tifffile.imwrite(tmp, px if ch > 1 else px[..., 0], photometric=photometric, extrasamples=extra,
                         compression="zlib")
        return
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[ch]
    im = Image.fromarray(px[..., 0] if ch == 1 else px, mode=None)
    if im.mode != mode:
        im = im.convert(mode)
    kw: dict = {}
    if fmt == "JPEG":
        kw = {"quality": quality or 95, "subsampling": 0}
    elif fmt == "WEBP":
        kw = {"lossless": True, "exact": True} if quality is None else {"quality": quality, "exact": True}
    elif fmt == "TIFF":
        kw = {"compression": "tiff_deflate"}
    elif fmt == "PNG":
        kw = {"compress_level": 6}
    if fmt == "WEBP" and ch in (1, 2):
        im = im.convert("RGBA" if ch == 2 else "RGB")
    if fmt == "BMP" and ch == 2:
        im = im.convert("L")
    im.save(tmp, format=fmt, **kw)


def write_like(path: PathLike, data, like: ImageData, **kw) -> Path:
    """Write ``data`` with the bit depth and alpha of the input it was computed from."""
    alpha = like.alpha if like.alpha is not None and like.alpha.shape == _as_hwc(data).shape[:2] else None
    return write_image(path, data, bit_depth=like.bit_depth, alpha=alpha, **kw)


# ----------------------------------------------------------------------------------------- folders
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> list:
    """Sort key so that ``"img2" < "img10"`` (digit runs compare as numbers, letters case-insensitively)."""
    parts = _DIGITS.split(text)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]


def natural_sorted(items: Iterable[PathLike], root: PathLike | None = None) -> list:
    """Sort paths naturally, component by component (relative to ``root`` if given)."""
    def key(p):
        rel = Path(p).relative_to(root) if root is not None else Path(p)
        return ([natural_key(part) for part in rel.parts], str(rel))

    return sorted(items, key=key)


def is_image_file(path: PathLike) -> bool:
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def list_images(folder: PathLike, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (hidden files skipped), in natural order (``img2`` before ``img10``).

    Raises:
        CamdeblurError: the folder does not exist or is a file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise CamdeblurError("folder not found", where=folder, fix="check the path")
    if not folder.is_dir():
        raise CamdeblurError("is a file, not a folder", where=folder, fix="give the folder that holds the images")
    it = folder.rglob("*") if recursive else folder.iterdir()
    files = [p for p in it if is_image_file(p) and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts[:-1])]
    return natural_sorted(files, root=folder)


# ----------------------------------------------------------------------------------------- safety
def check_not_input(output: PathLike, inputs: Iterable[PathLike]) -> None:
    """Refuse to write ``output`` if it is (or links to) one of ``inputs``.

    Compares resolved paths and, for existing files, device + inode (catches hard links).

    Raises:
        CamdeblurError: the output would overwrite an input file.
    """
    out = Path(output)
    out_res = out.resolve()
    out_id = None
    if out.exists():
        st = out.stat()
        out_id = (st.st_dev, st.st_ino)
    for p in inputs:
        p = Path(p)
        same = p.resolve() == out_res
        if not same and out_id is not None and p.exists():
            st = p.stat()
            same = (st.st_dev, st.st_ino) == out_id
        if same:
            raise CamdeblurError("output would overwrite an input file", where=output,
                                 fix="choose a different output file or folder")


# ----------------------------------------------------------------------------------------- tensors
def to_tensor(image, device=None) -> torch.Tensor:
    """numpy ``(H, W, C)`` (or ``(H, W)``; float in [0, 1], uint8 or uint16) -> float32 torch ``(1, C, H, W)``."""
    import torch

    a = image.data if isinstance(image, ImageData) else np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"to_tensor expects (H, W, C) or (H, W), got shape {a.shape}")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    return t.to(device) if device is not None else t


def to_numpy(tensor) -> np.ndarray:
    """torch ``(1, C, H, W)`` or ``(C, H, W)`` -> float32 numpy ``(H, W, C)`` (detached, on CPU)."""
    t = tensor.detach()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_numpy converts one image; got a batch of {t.shape[0]} (index it first)")
        t = t[0]
    if t.ndim != 3:
        raise ValueError(f"to_numpy expects (1, C, H, W) or (C, H, W), got shape {tuple(t.shape)}")
    import torch

    return np.ascontiguousarray(t.to(device="cpu", dtype=torch.float32).permute(1, 2, 0).numpy())
