"""Still-image I/O: exact round trips, 16-bit, alpha, EXIF orientation, natural order, one-line errors."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from camdeblur.errors import CamdeblurError
from camdeblur.io import (
    check_not_input,
    list_images,
    read_image,
    read_rgb,
    to_numpy,
    to_tensor,
    write_image,
    write_like,
)
from camdeblur.io import image as image_mod
from camdeblur.io.png16 import read_png16, write_png16


def _q(a, bits):
    peak = 2**bits - 1
    return np.rint(np.clip(a, 0, 1) * peak) / peak


# ------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_lossless_round_trip(tmp_path, rng, ext, bits, channels, with_alpha):
    data = rng.random((13, 17, channels)).astype(np.float32)
    alpha = rng.random((13, 17)).astype(np.float32) if with_alpha else None
    p = write_image(tmp_path / f"x.{ext}", data, bit_depth=bits, alpha=alpha)
    img = read_image(p)
    assert img.bit_depth == bits
    assert img.data.dtype == np.float32 and img.data.shape == (13, 17, channels)
    np.testing.assert_array_equal(img.data, _q(data, bits).astype(np.float32))
    if with_alpha:
        np.testing.assert_array_equal(img.alpha, _q(alpha, bits).astype(np.float32))
    else:
        assert img.alpha is None
    # writing what was read with the input's bit depth reproduces the file's pixels exactly
    p2 = write_like(tmp_path / f"y.{ext}", img.data, img)
    again = read_image(p2)
    assert again.bit_depth == bits
    np.testing.assert_array_equal(again.data, img.data)


def test_16bit_rgb_png_keeps_low_byte(tmp_path):
    """Pillow reads 16-bit RGB PNG as 8 bits; values one code apart must still differ after reading."""
    codes = np.array([[[0, 1, 2], [255, 256, 257]], [[65533, 65534, 65535], [4660, 22136, 39612]]], np.uint16)
    p = write_image(tmp_path / "c.png", codes, bit_depth=16)
    with Image.open(p) as im:  # the file really is a 16-bit colour PNG
        assert im.mode == "RGB"
    with open(p, "rb") as fh:
        head = fh.read(26)
    assert head[24] == 16 and head[25] == 2
    img = read_image(p)
    assert img.mode == "RGB;16"
    np.testing.assert_array_equal(np.rint(img.data * 65535).astype(np.uint16), codes)


def test_uint_inputs_are_taken_as_codes(tmp_path, rng):
    u8 = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.png", u8)).data, u8 / np.float32(255))
    u16 = u8.astype(np.uint16) * 257
    img = read_image(write_image(tmp_path / "b.png", u16, bit_depth=16))
    np.testing.assert_array_equal(np.rint(img.data * 65535), u16)


def test_rgba_alpha_written_back_png_and_webp(tmp_path, rng):
    rgb = rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)
    a = rng.integers(0, 256, (16, 12), dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, a]), "RGBA").save(tmp_path / "in.png")
    img = read_image(tmp_path / "in.png")
    assert img.mode == "RGBA" and img.data.shape == (16, 12, 3) and img.alpha.shape == (16, 12)
    for ext in ("png", "webp"):
        out = write_like(tmp_path / f"out.{ext}", img.data, img)
        with Image.open(out) as im:
            back = np.asarray(im.convert("RGBA"))
        np.testing.assert_array_equal(back[..., 3], a)
        np.testing.assert_array_equal(back[..., :3], rgb)


def test_palette_with_transparency_and_grey(tmp_path):
    pal = Image.new("P", (6, 4))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    px = np.zeros((4, 6), np.uint8)
    px[:, 3:] = 1
    pal.putdata(px.ravel().tolist())
    pal.info["transparency"] = 1
    pal.save(tmp_path / "p.png", transparency=1)
    img = read_image(tmp_path / "p.png")
    assert img.mode == "P" and img.bit_depth == 8
    np.testing.assert_array_equal(img.data[0, 0], [1, 0, 0])
    np.testing.assert_array_equal(img.alpha[:, :3], 1)
    np.testing.assert_array_equal(img.alpha[:, 3:], 0)

    Image.fromarray(np.arange(24, dtype=np.uint8).reshape(4, 6) * 10, "L").save(tmp_path / "g.jpg", quality=100)
    g = read_image(tmp_path / "g.jpg")
    assert g.data.shape == (4, 6, 1) and g.mode == "L"
    rgb = read_rgb(tmp_path / "g.jpg")
    assert rgb.shape == (4, 6, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(rgb[..., 1], g.data[..., 0])


def test_16bit_to_8bit_format_warns_and_writes_8bit(tmp_path, rng):
    data = rng.random((8, 8, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="8-bit"):
        p = write_image(tmp_path / "x.jpg", data, bit_depth=16)
    assert read_image(p).bit_depth == 8
    with pytest.warns(UserWarning, match="alpha"):
        write_image(tmp_path / "y.jpg", data, alpha=np.ones((8, 8), np.float32))


# ------------------------------------------------------------------------------------ EXIF
def _marked(h=24, w=40):
    """An image whose orientation is unambiguous: a red block top-left, a blue block bottom-right."""
    a = np.full((h, w, 3), 128, np.uint8)
    a[:8, :8] = (255, 0, 0)
    a[-8:, -8:] = (0, 0, 255)
    return a


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be turned 90 degrees clockwise for display
    Image.fromarray(_marked()).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=98)
    img = read_image(tmp_path / "r.jpg")
    assert img.data.shape == (40, 24, 3)  # portrait now
    # red block was top-left in storage; after a clockwise turn it is top-right
    assert img.data[2, -3, 0] > 0.9 and img.data[2, -3, 2] < 0.1
    assert img.data[-3, 2, 2] > 0.9 and img.data[-3, 2, 0] < 0.1
    raw = read_image(tmp_path / "r.jpg", apply_exif=False)
    assert raw.data.shape == (24, 40, 3)


def _insert_chunk(png: bytes, ctype: bytes, data: bytes) -> bytes:
    """Insert a chunk right after IHDR (signature 8 + IHDR 25 bytes)."""
    chunk = struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_16bit_png_matches_pillow(tmp_path, orientation):
    base = _marked(12, 20).astype(np.uint16) * 257
    buf = io.BytesIO()
    write_png16(buf, base)
    exif = Image.Exif()
    exif[0x0112] = orientation
    blob = _insert_chunk(buf.getvalue(), b"eXIf", exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif") else exif.tobytes())
    (tmp_path / "o.png").write_bytes(blob)
    got = read_image(tmp_path / "o.png").data
    ref_im = Image.fromarray(_marked(12, 20))
    ref_im.info["exif"] = exif.tobytes()
    ref_im.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(ref_im)).astype(np.float32) / 255
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------------------------ PNG16 codec
def _ref_filter_rows(rows: np.ndarray, bpp: int, types) -> bytes:
    """Straightforward per-byte PNG filtering (the spec, literally) for tiny images."""
    out = bytearray()
    prev = [0] * rows.shape[1]
    for r, ft in zip(rows.tolist(), types):
        out.append(ft)
        for i, x in enumerate(r):
            a = r[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 0:
                pred = 0
            elif ft == 1:
                pred = a
            elif ft == 2:
                pred = b
            elif ft == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((x - pred) & 0xFF)
        prev = r
    return bytes(out)


def _ref_png16(px: np.ndarray, interlace: bool, rng) -> bytes:
    h, w, ch = px.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    bpp = 2 * ch
    be = px.astype(">u2")
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes if interlace else [(0, 0, 1, 1)]:
        sub = be[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = np.ascontiguousarray(sub).view(np.uint8).reshape(sub.shape[0], -1)
        raw += _ref_filter_rows(rows, bpp, rng.integers(0, 5, rows.shape[0]).tolist())

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, int(interlace)))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png16_decoder_all_filters_and_adam7(rng, interlace, channels):
    px = rng.integers(0, 65536, (11, 13, channels)).astype(np.uint16)
    px[..., 0] = np.add.outer(np.arange(11) * 3000, np.arange(13) * 700).astype(np.uint16)  # smooth part
    got, info = read_png16(_ref_png16(px, interlace, rng))
    np.testing.assert_array_equal(got, px)


def test_png16_decoder_on_ffmpeg_encoded_png(rng):
    av = pytest.importorskip("av")
    px = rng.integers(0, 65536, (21, 19, 3)).astype(np.uint16)
    for pred in ("paeth", "avg", "mixed"):
        ctx = av.CodecContext.create("png", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 19, 21, "rgb48be"
        ctx.options = {"pred": pred}
        frame = av.VideoFrame.from_ndarray(px, format="rgb48le").reformat(format="rgb48be")
        packets = ctx.encode(frame) + ctx.encode(None)
        got, _ = read_png16(bytes(packets[0]))
        np.testing.assert_array_equal(got, px)


# ------------------------------------------------------------------------------------ folders
def test_list_images_natural_order(tmp_path):
    for name in ["img10.png", "img2.png", "img1.jpg", "IMG3.tif", "notes.txt", ".hidden.png", "img2b.webp"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "img0.png").write_bytes(b"x")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["img1.jpg", "img2.png", "img2b.webp", "IMG3.tif", "img10.png"]
    rec = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)]
    assert rec == names + ["sub/img0.png"]


def test_list_images_errors(tmp_path):
    with pytest.raises(CamdeblurError, match="folder not found"):
        list_images(tmp_path / "nope")
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(CamdeblurError, match="not a folder"):
        list_images(tmp_path / "f.png")


# ------------------------------------------------------------------------------------ errors
def _one_line(exc: CamdeblurError) -> str:
    line = exc.value.line()
    assert "\n" not in line
    return line


def test_missing_and_non_image_files(tmp_path):
    with pytest.raises(CamdeblurError) as exc:
        read_image(tmp_path / "missing.png")
    assert "file not found" in _one_line(exc) and "missing.png" in _one_line(exc)
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(CamdeblurError) as exc:
        read_image(tmp_path / "text.png")
    assert "not a readable image" in _one_line(exc) and "text.png" in _one_line(exc)
    with pytest.raises(CamdeblurError, match="folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("ext,bits", [("png", 8), ("png", 16), ("jpg", 8), ("tif", 16), ("webp", 8)])
def test_truncated_image_is_one_line_error(tmp_path, rng, ext, bits):
    data = rng.random((64, 48, 3)).astype(np.float32)
    p = write_image(tmp_path / f"full.{ext}", data, bit_depth=bits)
    blob = p.read_bytes()
    bad = tmp_path / f"cut.{ext}"
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CamdeblurError) as exc:
        read_image(bad)
    line = _one_line(exc)
    assert "cut." in line and ("truncated" in line or "corrupt" in line)


def test_unwritable_output_and_bad_extension(tmp_path, rng):
    data = rng.random((4, 4, 3)).astype(np.float32)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CamdeblurError) as exc:
        write_image(tmp_path / "file" / "out.png", data)
    assert "cannot write image" in _one_line(exc)
    with pytest.raises(CamdeblurError, match="unsupported output format"):
        write_image(tmp_path / "out.xyz", data)


def test_failed_write_keeps_previous_file(tmp_path, rng, monkeypatch):
    p = write_image(tmp_path / "keep.png", rng.random((8, 8, 3)).astype(np.float32))
    before = p.read_bytes()

    def broken(tmp, *a, **k):
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(image_mod, "_encode", broken)
    with pytest.raises(RuntimeError):
        write_image(p, np.zeros((8, 8, 3), np.float32))
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.png"]  # no temp file left behind


def test_check_not_input(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(b"x")
    check_not_input(tmp_path / "out.png", [src])
    with pytest.raises(CamdeblurError, match="overwrite an input"):
        check_not_input(tmp_path / "sub" / ".." / "in.png", [src])
    os.symlink(src, tmp_path / "link.png")
    with pytest.raises(CamdeblurError):
        check_not_input(tmp_path / "link.png", [src])
    os.link(src, tmp_path / "hard.png")
    with pytest.raises(CamdeblurError):
        check_not_input(tmp_path / "hard.png", [src])


# ------------------------------------------------------------------------------------ tensors
def test_tensor_conversion(rng):
    a = rng.random((5, 7, 3)).astype(np.float32)
    t = to_tensor(a)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t[0, 2, 4, 6]) == a[4, 6, 2]
    np.testing.assert_array_equal(to_numpy(t), a)
    np.testing.assert_array_equal(to_numpy(t[0]), a)
    assert to_tensor(a[..., 0]).shape == (1, 1, 5, 7)
    assert float(to_tensor(np.full((2, 2, 3), 255, np.uint8)).max()) == 1.0
    with pytest.raises(ValueError, match="batch"):
        to_numpy(torch.zeros(2, 3, 4, 4))


def test_exif_orientation_16bit_tiff(tmp_path):
    import tifffile

    base = _marked(12, 20).astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "o.tif", base, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    img = read_image(tmp_path / "o.tif")
    assert img.bit_depth == 16 and img.data.shape == (20, 12, 3)
    np.testing.assert_array_equal(img.data, np.rot90(base, -1) / np.float32(65535))
    assert read_image(tmp_path / "o.tif", apply_exif=False).data.shape == (12, 20, 3)
