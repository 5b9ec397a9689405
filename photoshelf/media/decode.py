"""Which files are media, and decoding their pixels (Pillow, pillow-heif, rawpy, PyAV) into an upright image."""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, ImageOps

from photoshelf import values
from photoshelf.errors import MediaError

log = logging.getLogger(__name__)

# Pillow's own bomb check is replaced by _check_pixels, which gives a reason naming the config key.
Image.MAX_IMAGE_PIXELS = None
# A truncated file still shows what it has (like every photo app); _looks_truncated records a warning. This is
# process-wide in Pillow, so it is set once here rather than toggled per file from several threads.
ImageFile.LOAD_TRUNCATED_IMAGES = True

IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp",
    ".heic", ".heif", ".hif", ".avif", ".mpo",
}
RAW_EXTENSIONS = {
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
    ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".mef", ".mos", ".mrw", ".iiq", ".raw", ".rwl",
}
VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".qt", ".avi", ".mkv", ".webm", ".3gp", ".3g2", ".mts", ".m2ts", ".mpg",
    ".mpeg", ".wmv", ".flv", ".ogv",
}
SIDECAR_EXTENSIONS = {".xmp", ".json", ".yml", ".yaml", ".aae"}
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS

# exiftool FileType values by the kind of media they are; anything else is "not a photo or video".
RAW_FILETYPES = {
    "DNG", "CR2", "CR3", "CRW", "NEF", "NRW", "ARW", "SRF", "SR2", "RAF", "ORF", "RW2", "PEF", "SRW",
    "X3F", "3FR", "ERF", "KDC", "MEF", "MOS", "MRW", "IIQ", "RAW", "RWL",
}
# MPO: a multi-picture JPEG (3D cameras, some phones); the first picture is the photo. exiftool calls an animated
# (or alpha) WebP "Extended WEBP".
IMAGE_FILETYPES = {"JPEG", "MPO", "PNG", "GIF", "WEBP", "EXTENDED WEBP", "TIFF", "BMP", "HEIC", "HEIF", "AVIF", "JXL"}
VIDEO_FILETYPES = {"MP4", "M4V", "MOV", "AVI", "MKV", "WEBM", "3GP", "3G2", "M2TS", "MPEG", "WMV", "FLV", "OGV", "MTS"}


def is_sidecar(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in SIDECAR_EXTENSIONS


def is_media(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS


def kind_for_filetype(filetype: str) -> str | None:
    """'image', 'raw' or 'video' for an exiftool FileType, None for files that are not media."""
    ft = filetype.upper()
    if ft in RAW_FILETYPES:
        return "raw"
    if ft in IMAGE_FILETYPES:
        return "image"
    if ft in VIDEO_FILETYPES:
        return "video"
    return None


def kind_for_name(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    if ext in RAW_EXTENSIONS:
        return "raw"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return "image"


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


@dataclass
class Decoded:
    """An upright RGB image, small enough for thumbnails, and facts learnt while decoding."""

    image: Image.Image
    width: int  # full size of the original after orientation
    height: int
    warning: str | None = None
    duration: float | None = None  # an animated GIF/WebP's length in seconds


# An animation longer than this many frames is not walked to sum its length (each frame is decoded to read it).
MAX_FRAMES_TIMED = 2000


def animation_duration(image: Image.Image) -> float | None:
    """The length of an animated GIF/WebP in seconds (its frames' durations summed), None for a still picture.

    Pillow gives a frame's duration only once it has seeked to it, so this decodes every frame (up to
    MAX_FRAMES_TIMED); the image is left at its first frame."""
    if not getattr(image, "is_animated", False):
        return None
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames < 2 or frames > MAX_FRAMES_TIMED:
        return None
    total = 0.0
    try:
        for i in range(frames):
            image.seek(i)
            image.load()  # WebP sets a frame's duration when it decodes it
            total += float(image.info.get("duration") or 0)
    except (EOFError, OSError, ValueError) as exc:
        log.debug("animation length not read: %s", exc)
        return None
    finally:
        image.seek(0)
    return values.duration(total / 1000) if total > 0 else None


def _check_pixels(width: int, height: int, max_megapixels: int) -> None:
    if width * height > max_megapixels * 1_000_000:
        raise MediaError(
            f"image declares {width}×{height} pixels ({width * height / 1e6:,.0f} MP), above the safety "
            f"limit of {max_megapixels} MP (index.max_megapixels): refusing to decode a possible decompression bomb"
        )


def _exif_dimensions(image: Image.Image) -> tuple[int, int] | None:
    try:
        ifd = image.getexif().get_ifd(0x8769)
    except Exception:  # noqa: BLE001 - broken EXIF is only a missing hint here
        return None
    w, h = ifd.get(0xA002), ifd.get(0xA003)
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to RGB (flattening alpha on white) and the colour profile to sRGB."""
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    elif image.mode == "I;16" or image.mode == "I":
        image = image.point(lambda v: v / 256).convert("L").convert("RGB")
    elif image.mode != "RGB" and image.mode != "CMYK":
        image = image.convert("RGB")
    if icc and b"sRGB" not in icc[:400]:
        from PIL import ImageCms

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
            if converted is not None:  # None only for a conversion in place, which this is not
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            log.debug("colour profile not applied: %s", exc)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


class OverDecodeLimit(MediaError):
    """decode_image() was asked to stay under a number of decoded pixels that this image exceeds."""


def decode_image(data: bytes, target: int, max_megapixels: int, *, decode_limit: int | None = None) -> Decoded:
    """Decode a still image (any Pillow or HEIF format) from bytes, upright, at least `target` px on its long side.

    With `decode_limit` (the viewer's preview, made while serving), memory stays bounded: an image that would be
    decoded to more pixels than that (after JPEG's reduced-size decoding; PNG, TIFF, HEIF... decode whole) is
    refused with OverDecodeLimit, and the decoded bitmap is shrunk at once (Image.reduce) to no less than twice
    `target`, before colour conversion and rotation copy it."""
    _register_heif()
    warning = None
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise MediaError(f"decompression bomb: {exc}") from None
    except Image.UnidentifiedImageError:
        raise MediaError("not an image Pillow or libheif can decode") from None
    _check_pixels(image.width, image.height, max_megapixels)
    full_w, full_h = image.size
    fmt = image.format or ""
    if fmt in ("JPEG", "MPO"):
        image.draft("RGB", (target, target))
    # Before getexif(): Pillow's PNG reader decodes the whole image there (to find an eXIf chunk after the pixels).
    if decode_limit is not None and image.width * image.height > decode_limit:
        raise OverDecodeLimit(f"the image decodes to {image.width}×{image.height} pixels, above the "
                              f"{decode_limit / 1e6:g} MP decoded on demand")
    orientation = 1
    try:
        orientation = int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001
        orientation = 1
    if fmt == "HEIF" or fmt == "AVIF":
        # libheif applies the container's rotation (irot) and pillow-heif then drops EXIF Orientation. Files
        # whose EXIF says rotate but whose container has no irot (re-muxed iPhone files) come out sideways:
        # when the decoded size still equals the stored EXIF size, apply the original EXIF orientation.
        original = int(image.info.get("original_orientation") or 1)
        dims = _exif_dimensions(image)
        orientation = original if (original > 1 and dims == image.size and dims[0] != dims[1]) else 1
    if _looks_truncated(fmt, data):
        warning = "the file is truncated: part of the picture is missing (grey in the thumbnail)"
    try:
        image.load()
    except OSError as exc:
        raise MediaError(f"cannot decode the image: {exc}") from None
    except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(f"cannot decode the image: {exc}") from None
    duration = None
    if getattr(image, "is_animated", False):
        duration = animation_duration(image) if fmt in ("GIF", "WEBP", "PNG") and decode_limit is None else None
        image.seek(0)
    if decode_limit is not None:
        image = _reduced(image, target)
    image = _to_rgb(image)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        image = _apply_orientation(image, orientation)
    if orientation in (5, 6, 7, 8):
        full_w, full_h = full_h, full_w
    return Decoded(image=image, width=full_w, height=full_h, warning=warning, duration=duration)


def _reduced(image: Image.Image, target: int) -> Image.Image:
    """`image` shrunk by a whole factor (a box filter: fast, one small copy) to no less than 2×`target` on its long
    side, as Image.thumbnail's reducing_gap=2 would, but before anything else copies it whole."""
    factor = max(image.size) // (2 * target)
    if factor < 2:
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode reduce() does not take (P, 1, I;16): _to_rgb converts it whole, as before
        return image


def _looks_truncated(fmt: str, data: bytes) -> bool:
    """Whether the file stops before its format's end marker (Pillow decodes what is there, see below)."""
    tail = data[-4096:].rstrip(b"\x00\r\n ")
    if fmt in ("JPEG", "MPO"):
        return b"\xff\xd9" not in tail
    if fmt == "PNG":
        return b"IEND" not in tail
    return False


def _apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    return image.transpose(method)


# LibRaw's flip codes to EXIF orientations.
_LIBRAW_FLIP = {0: 1, 3: 3, 5: 8, 6: 6}


def decode_raw(path: Path, data: bytes, target: int, max_megapixels: int) -> Decoded:
    """Decode a RAW file: its embedded preview when large enough, else a half-size demosaic by LibRaw."""
    import rawpy

    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError:
        raise MediaError("LibRaw does not support this RAW file (unknown camera or not a RAW file)") from None
    except (rawpy.LibRawError, OSError) as exc:
        raise MediaError(f"LibRaw cannot open the RAW file: {_reason(exc)}") from None
    with raw:
        flip = _LIBRAW_FLIP.get(raw.sizes.flip, 1)
        full_w, full_h = raw.sizes.width, raw.sizes.height
        image = None
        small = None
        try:
            thumb = raw.extract_thumb()
            if isinstance(thumb.data, bytes):  # a JPEG preview (a BITMAP one comes as an array of pixels)
                preview = Image.open(io.BytesIO(thumb.data))
                _check_pixels(preview.width, preview.height, max_megapixels)
                preview.draft("RGB", (target, target))
                preview.load()
                image = _to_rgb(preview)
            else:
                image = Image.fromarray(thumb.data).convert("RGB")
            if max(image.size) < min(target, max(full_w, full_h)):
                # A preview smaller than the rendition would be blown up (pixelated): demosaic, if LibRaw can.
                small, image = image, None
        except (rawpy.LibRawError, OSError):
            image = None
        if image is None:
            try:
                image = _demosaic(raw)
            except (rawpy.LibRawError, OSError, MemoryError, MediaError) as exc:
                if small is None:
                    raise MediaError(
                        f"LibRaw cannot decode the RAW pixels ({_reason(exc)}) and the file has no usable preview"
                    ) from None
                image, flip_needed = small, flip  # better a small preview than none
            else:
                flip_needed = 1  # postprocess already applies the flip
                if small is not None and max(small.size) > max(image.size):
                    image, flip_needed = small, flip
        else:
            flip_needed = flip
    if flip_needed != 1:
        image = _apply_orientation(image, flip_needed)
    if flip in (5, 6, 7, 8):
        full_w, full_h = full_h, full_w
    _check_pixels(full_w, full_h, max_megapixels)
    return Decoded(image=image, width=full_w or image.width, height=full_h or image.height)


def _demosaic(raw: Any) -> Image.Image:
    """A half-size demosaic (each 2×2 Bayer block one pixel: four times faster, and still larger than a preview),
    in the camera's white balance and sRGB, with LibRaw's auto-brightness (1% of pixels may clip). A rendering
    that comes out blank — all white or all black, as a DNG with an odd white level or linear data can — is
    refused, so the caller falls back to the embedded preview."""
    import rawpy

    array = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, auto_bright_thr=0.01,
                            highlight_mode=rawpy.HighlightMode.Clip, output_color=rawpy.ColorSpace.sRGB)
    mean, spread = float(array.mean()), float(array.std())
    if mean > 250 or mean < 2 or spread < 1:
        raise MediaError(f"LibRaw rendered a blank picture (mean level {mean:.0f} of 255)")
    return Image.fromarray(array)


def _reason(exc: BaseException) -> str:
    """LibRaw's messages arrive as bytes reprs (b'Input/output error'): make them plain text."""
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    return str(arg)


@dataclass
class VideoInfo:
    duration: float | None
    codec: str | None
    width: int
    height: int
    rotation: int


def decode_video(path: Path, target: int) -> tuple[Decoded, VideoInfo]:
    """A poster frame (about a third of a second in, at most 1 s) and stream facts, through PyAV."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"FFmpeg cannot open the video: {exc}") from None
    with container:
        if not container.streams.video:
            raise MediaError("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = None
        if container.duration:
            duration = values.duration(container.duration / 1_000_000)
        elif stream.duration and stream.time_base:
            duration = values.duration(float(stream.duration * stream.time_base))
        codec = values.text(stream.codec_context.name, values.CODEC) if stream.codec_context else None
        frame = None
        try:
            if duration and duration > 0.5 and stream.time_base:
                at = min(1.0, duration / 3)
                container.seek(int(at / stream.time_base), stream=stream, any_frame=False, backward=True)
            frame = next(iter(container.decode(stream)), None)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"FFmpeg cannot decode a frame of the video: {exc}") from None
        if frame is None:
            raise MediaError("the video has no decodable frame")
        rotation = values.rotation(getattr(frame, "rotation", 0))
        image = frame.to_image()
    width, height = image.size
    if rotation % 360:
        image = image.rotate(rotation, expand=True)
    if rotation % 180:
        width, height = height, width
    image.thumbnail((target, target))
    info = VideoInfo(duration=duration, codec=codec, width=width, height=height, rotation=rotation)
    return Decoded(image=image.convert("RGB"), width=width, height=height), info


def orientation_for_rotation(rotation: int) -> int:
    """EXIF orientation equivalent of a video's display rotation (PyAV's counter-clockwise degrees)."""
    return {0: 1, -90: 6, 270: 6, 90: 8, -270: 8, 180: 3, -180: 3}.get(rotation, 1)


def render_fit(image: Image.Image, size: int) -> Image.Image:
    """Scale down to fit in size×size, keeping the aspect ratio."""
    out = image.copy() if max(image.size) > size else image
    if max(out.size) > size:
        out.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return out


def render_tile(image: Image.Image, size: int) -> Image.Image:
    """A centred square crop scaled to size×size."""
    return ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
