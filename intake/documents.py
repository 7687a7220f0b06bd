"""Checking and sanitising every uploaded file before it is stored.

`inspect_upload` decides what a file is from its content (magic bytes, then Pillow or pypdf),
never from its name or the type the client declared. Images are turned upright, stripped of all
metadata (EXIF, GPS, ICC, text chunks) by re-encoding from pixels, capped in size and
thumbnailed. PDFs are kept byte for byte once pypdf can open them, count their pages and read
the first one. Anything refused raises a `DocumentRejected` subclass whose `user_message` is
ready to show to the taxpayer (Simplified Chinese; the dialogue converts to Traditional).

The work is CPU-bound and pure (no I/O, no channel): coroutines call `inspect_upload_async`,
which runs it in a thread or a given executor.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from taxrules.errors import UserFacingError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
ACCEPTED_KINDS_TEXT = "PDF 或 JPG/PNG 照片"

DocumentKind = Literal["pdf", "image"]


# --------------------------------------------------------------------------------------------
# Errors


class DocumentRejected(UserFacingError):
    """A file the desk will not store. `code` is stable (for logs, metrics, response keys);
    `user_message` is the Simplified Chinese text for the taxpayer."""

    code: ClassVar[str] = "rejected"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail

    @property
    def user_message(self) -> str:
        """The text to show the taxpayer (Simplified Chinese)."""
        return f"这个文件无法处理，请发送 {ACCEPTED_KINDS_TEXT}。"

    def _ctor_args(self) -> tuple[Any, ...]:
        return (self.detail,)

    def __reduce__(self) -> tuple[Callable[..., DocumentRejected], tuple[Any, ...]]:
        # Survive a trip through a ProcessPoolExecutor with the constructor arguments intact.
        return (type(self), self._ctor_args())


class EmptyFile(DocumentRejected):
    """The file has no bytes at all."""

    code = "empty_file"

    @property
    def user_message(self) -> str:
        return "收到的文件是空的（0 字节），请重新发送。"


class FileTooLarge(DocumentRejected):
    """The file is larger than the limit (checked before anything else is done with it).
    Channels raise it themselves when the size they are told exceeds what they can fetch."""

    code = "file_too_large"

    def __init__(self, limit_mb: float, detail: str = "") -> None:
        super().__init__(detail or f"larger than {limit_mb:g} MB")
        self.limit_mb = limit_mb

    @property
    def user_message(self) -> str:
        if self.limit_mb >= 1:
            limit = f"{round(self.limit_mb, 1):g} MB"
        else:
            limit = f"{round(self.limit_mb * 1024):d} KB"
        return f"文件超过 {limit}，请压缩后再发，或分页拍照发送。"

    def _ctor_args(self) -> tuple[Any, ...]:
        return (self.limit_mb, self.detail)


class UnsupportedType(DocumentRejected):
    """Not a PDF, JPEG, PNG or WebP (or HEIC where Pillow can read it). `detected` names what
    the content looked like ("zip", "heic", "gif", "unknown", ...)."""

    code = "unsupported_type"

    def __init__(self, detected: str = "unknown", detail: str = "") -> None:
        super().__init__(detail or f"unsupported content: {detected}")
        self.detected = detected

    @property
    def user_message(self) -> str:
        if self.detected == "heic":
            return "暂不支持 HEIC 格式的照片，请直接以“照片”方式发送，或转换成 JPG/PNG 后再发。"
        return f"暂不支持这种文件，请发送 {ACCEPTED_KINDS_TEXT}。"

    def _ctor_args(self) -> tuple[Any, ...]:
        return (self.detected, self.detail)


class CorruptFile(DocumentRejected):
    """The content claims a supported type but cannot be decoded (truncated, damaged)."""

    code = "corrupt_file"

    @property
    def user_message(self) -> str:
        return "文件已损坏或不完整，无法打开。请重新导出或重新拍照后再发送。"


class EncryptedPdf(DocumentRejected):
    """A PDF that needs a password to open."""

    code = "encrypted_pdf"

    @property
    def user_message(self) -> str:
        return "这个 PDF 设置了密码，我们无法打开。请取消密码后重新发送，或改为拍照发送。"


class DecompressionBomb(DocumentRejected):
    """An image (or PDF stream) that would expand to far more pixels/bytes than allowed."""

    code = "decompression_bomb"

    @property
    def user_message(self) -> str:
        return "图片尺寸过大，无法处理。请缩小后重新发送，或直接以“照片”方式发送。"


class TooManyPages(DocumentRejected):
    """A PDF with more pages than the limit."""

    code = "too_many_pages"

    def __init__(self, pages: int, limit: int, detail: str = "") -> None:
        super().__init__(detail or f"{pages} pages > {limit}")
        self.pages = pages
        self.limit = limit

    @property
    def user_message(self) -> str:
        return (
            f"PDF 页数过多（{self.pages} 页，最多 {self.limit} 页），"
            "请只发送需要的页面，或分成几份发送。"
        )

    def _ctor_args(self) -> tuple[Any, ...]:
        return (self.pages, self.limit, self.detail)


# --------------------------------------------------------------------------------------------
# Limits and result


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """Tunable limits for `inspect_upload`. The defaults suit phone photos and scans."""

    max_pixels: int = 64_000_000  # header width*height above this is refused, before decoding
    # Stored images have their longest side at most `max_side`. 2560 is Telegram's own HD photo
    # size and keeps an A4 page at ~220 dpi. Larger JPEGs are decoded at 1/2, 1/4 or 1/8 scale
    # (DCT scaling, no resize pass) when that keeps at least `draft_tolerance * max_side`, so a
    # 4000x3000 phone photo is stored at 2000x1500. Use 4096 to keep such photos at full size.
    max_side: int = 2560
    draft_tolerance: float = 0.75
    thumbnail_side: int = 320
    jpeg_quality: int = 85
    thumbnail_quality: int = 75
    png_compress_level: int = 6
    max_pdf_pages: int = 200


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A file that passed the checks, ready to store.

    `data` is what to store: the sanitised re-encoded image, or the PDF's original bytes.
    `sha256` is of `data`; `original_sha256` of the bytes received.
    """

    kind: DocumentKind
    media_type: str  # "application/pdf", "image/jpeg" or "image/png"
    data: bytes
    sha256: str
    original_sha256: str
    size: int
    source_format: str  # what the upload was: "pdf", "jpeg", "png", "webp", "heic"
    suggested_extension: str  # ".pdf", ".jpg" or ".png", matching `media_type`
    original_name: str | None = None  # sanitised file name as the taxpayer sent it
    width: int | None = None  # images only, after orientation and capping
    height: int | None = None
    page_count: int = 1
    thumbnail: bytes | None = None  # JPEG, longest side <= limits.thumbnail_side
    thumbnail_media_type: str | None = None  # "image/jpeg" when there is a thumbnail

    @property
    def safe_filename(self) -> str:
        """A file name for downloads: the sanitised stem with the extension of the content."""
        name = self.original_name or ""
        stem = name.rpartition(".")[0] or name
        return (stem or "document") + self.suggested_extension


# --------------------------------------------------------------------------------------------
# Public API


def inspect_upload(
    data: bytes,
    *,
    filename: str | None = None,
    declared_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: IntakeLimits | None = None,
) -> CheckedDocument:
    """Check one uploaded file by content and return what to store, or raise
    `DocumentRejected` (a subclass) with a user message.

    `filename` is only sanitised and kept for display; `declared_type` (what the client said)
    is only logged when it disagrees with the content. CPU-bound: do not call on the event
    loop, use `inspect_upload_async`.
    """
    limits = limits or IntakeLimits()
    if not data:
        raise EmptyFile("zero bytes")
    if len(data) > max_bytes:
        raise FileTooLarge(max_bytes / (1024 * 1024), f"{len(data)} bytes")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone flipped Pillow's global; truncated images would then pass as valid.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must be False for intake")

    started = time.perf_counter()
    original_sha256 = hashlib.sha256(data).hexdigest()
    name = sanitize_filename(filename)
    detected = sniff(data)
    if declared_type and _media_family(declared_type) not in (None, _media_family_of(detected)):
        log.debug("declared type %s but content is %s", declared_type, detected)

    if detected == "pdf":
        doc = _inspect_pdf(data, limits, original_sha256, name)
    elif detected in ("jpeg", "png", "webp") or (detected == "heic" and _heif_supported()):
        doc = _inspect_image(data, detected, limits, original_sha256, name)
    else:
        raise UnsupportedType(detected)
    log.debug(
        "checked %s %s %d->%d bytes in %.0f ms",
        doc.source_format,
        original_sha256[:12],
        len(data),
        doc.size,
        (time.perf_counter() - started) * 1000,
    )
    return doc


async def inspect_upload_async(
    data: bytes,
    *,
    filename: str | None = None,
    declared_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: IntakeLimits | None = None,
    executor: Executor | None = None,
) -> CheckedDocument:
    """`inspect_upload` off the event loop: in `executor` when given (a thread or process
    pool; the result and the errors pickle), else in the default thread via `to_thread`."""
    call = functools.partial(
        inspect_upload,
        data,
        filename=filename,
        declared_type=declared_type,
        max_bytes=max_bytes,
        limits=limits,
    )
    if executor is None:
        return await asyncio.to_thread(call)
    return await asyncio.get_running_loop().run_in_executor(executor, call)


def sniff(data: bytes) -> str:
    """Name the content type from magic bytes: "pdf", "jpeg", "png", "webp", "heic", or what
    else it looks like ("zip", "gif", "avif", "ole", "exe", ...), or "unknown"."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if b"%PDF-" in data[:1024]:  # the spec lets junk precede the header
        return "pdf"
    if head[4:8] == b"ftyp":
        brands = {data[i : i + 4] for i in range(8, min(len(data), 64), 4)}
        if brands & {b"avif", b"avis"}:
            return "avif"
        heif = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
        if brands & heif:
            return "heic"
        return "video"
    for magic, kind in (
        (b"PK\x03\x04", "zip"),
        (b"PK\x05\x06", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),  # .doc/.xls
        (b"GIF8", "gif"),
        (b"BM", "bmp"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"MZ", "exe"),
        (b"\x7fELF", "exe"),
        (b"Rar!", "rar"),
        (b"7z\xbc\xaf", "7z"),
    ):
        if head.startswith(magic):
            return kind
    return "unknown"


_UNSAFE_NAME_CHARS = re.compile(r'[<>:"/\\|?*]')


def sanitize_filename(name: str | None, max_length: int = 120) -> str | None:
    """A display-safe file name: no path, no control or bidi-override characters, no
    characters that are unsafe on common file systems, bounded length. None when nothing
    usable is left."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    # Category C* covers control and format characters (incl. U+202E RIGHT-TO-LEFT OVERRIDE).
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return None
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            name = stem[: max_length - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:max_length].rstrip(" .")
    return name or None


# --------------------------------------------------------------------------------------------
# Images

_PIL_FORMATS = {"jpeg": ["JPEG"], "png": ["PNG"], "webp": ["WEBP"], "heic": ["HEIF"]}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # the table ImageOps.exif_transpose uses; applied here after downscaling (cheaper)


def _heif_supported() -> bool:
    Image.init()
    return "HEIF" in Image.OPEN


def _inspect_image(
    data: bytes, fmt: str, limits: IntakeLimits, original_sha256: str, name: str | None
) -> CheckedDocument:
    try:
        im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own global check fired (the warning only raises if filters make it an error).
        raise DecompressionBomb(str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise CorruptFile(f"{fmt}: {exc}") from exc

    with im:
        width, height = im.size
        # Our own per-call limit, from the header only, before any pixel is decoded.
        if width <= 0 or height <= 0:
            raise CorruptFile(f"{fmt}: size {width}x{height}")
        if width * height > limits.max_pixels:
            raise DecompressionBomb(f"{width}x{height} > {limits.max_pixels} pixels")
        source_has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            im.mode == "P" and "transparency" in im.info
        )
        if im.format in ("JPEG", "MPO"):
            scale = _jpeg_draft_scale((width, height), limits)
            if scale > 1:
                # libjpeg decodes at 1/scale directly: far less work and memory than a resize.
                im.draft(
                    im.mode if im.mode in ("RGB", "L") else None, (width // scale, height // scale)
                )
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DecompressionBomb(str(exc)) from exc
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise CorruptFile(f"{fmt}: {exc}") from exc
        orientation = _orientation(im)  # after load: PNG may keep eXIf after the pixel data
        pixels = _normalise_mode(im, keep_alpha=source_has_alpha)
        target = _capped_size(pixels.size, limits.max_side)
        if pixels.size != target:
            pixels = pixels.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
        if orientation in _TRANSPOSE:
            pixels = pixels.transpose(_TRANSPOSE[orientation])
        out_png = fmt == "png" or pixels.mode in ("RGBA", "LA")
        stored = _encode(pixels, "PNG" if out_png else "JPEG", limits)
        thumb = _thumbnail(pixels, limits)

    return CheckedDocument(
        kind="image",
        media_type="image/png" if out_png else "image/jpeg",
        data=stored,
        sha256=hashlib.sha256(stored).hexdigest(),
        original_sha256=original_sha256,
        size=len(stored),
        source_format=fmt,
        suggested_extension=".png" if out_png else ".jpg",
        original_name=name,
        width=pixels.width,
        height=pixels.height,
        page_count=1,
        thumbnail=thumb,
        thumbnail_media_type="image/jpeg",
    )


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a broken EXIF block must not sink an otherwise good photo
        return 1
    return value if isinstance(value, int) else 1


def _jpeg_draft_scale(size: tuple[int, int], limits: IntakeLimits) -> int:
    """The largest JPEG decode scale (8, 4, 2) that keeps the longest side at least
    `draft_tolerance * max_side`; 1 when the image is within the cap or no scale fits."""
    longest = max(size)
    if longest <= limits.max_side:
        return 1
    for scale in (8, 4, 2):
        if -(-longest // scale) >= limits.draft_tolerance * limits.max_side:
            return scale
    return 1


def _capped_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return size
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _normalise_mode(im: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """Pixels in L, RGB or RGBA/LA (alpha only when some pixel is not opaque)."""
    mode = im.mode
    if mode in ("L", "RGB"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16") or mode in ("I", "F"):
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if keep_alpha:
        converted = im.convert("LA" if mode in ("LA", "La") else "RGBA")
        alpha = converted.getchannel("A")
        if alpha.getextrema()[0] == 255:  # fully opaque: the alpha carries nothing
            return converted.convert("L" if converted.mode == "LA" else "RGB")
        return converted
    return im.convert("RGB")


def _encode(im: Image.Image, fmt: str, limits: IntakeLimits) -> bytes:
    im.info.clear()  # never let Pillow carry EXIF/ICC/text/XMP from info into the output
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=limits.jpeg_quality, exif=b"", icc_profile=None)
    else:
        im.save(buf, "PNG", compress_level=limits.png_compress_level, icc_profile=None)
    return buf.getvalue()


def _thumbnail(im: Image.Image, limits: IntakeLimits) -> bytes:
    size = _capped_size(im.size, limits.thumbnail_side)
    thumb = im.resize(size, Image.Resampling.BICUBIC, reducing_gap=1.5) if size != im.size else im
    if thumb.mode in ("RGBA", "LA"):
        background = Image.new("RGB", thumb.size, (255, 255, 255))
        background.paste(thumb.convert("RGBA"), mask=thumb.getchannel("A"))
        thumb = background
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=limits.thumbnail_quality, exif=b"", icc_profile=None)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# PDFs


def _inspect_pdf(
    data: bytes, limits: IntakeLimits, original_sha256: str, name: str | None
) -> CheckedDocument:
    if b"%%EOF" not in data[-1024:]:
        raise CorruptFile("pdf: no %%EOF near the end (truncated?)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt_without_password(reader)
        pages = len(reader.pages)
        if pages < 1:
            raise CorruptFile("pdf: no pages")
        if pages > limits.max_pdf_pages:
            raise TooManyPages(pages, limits.max_pdf_pages)
        first = reader.pages[0]
        _ = first.mediabox.width, first.mediabox.height
        contents = first.get_contents()
        if contents is not None:
            contents.get_data()
    except DocumentRejected:
        raise
    except LimitReachedError as exc:
        raise DecompressionBomb(f"pdf: {exc}") from exc
    except Exception as exc:  # pypdf raises many types on damaged input (PdfReadError, ...)
        raise CorruptFile(f"pdf: {type(exc).__name__}: {exc}") from exc

    thumb = _pdf_thumbnail(first, limits)
    return CheckedDocument(
        kind="pdf",
        media_type="application/pdf",
        data=data,
        sha256=original_sha256,
        original_sha256=original_sha256,
        size=len(data),
        source_format="pdf",
        suggested_extension=".pdf",
        original_name=name,
        page_count=pages,
        thumbnail=thumb,
        thumbnail_media_type="image/jpeg" if thumb else None,
    )


def _decrypt_without_password(reader: PdfReader) -> None:
    """Accept PDFs that only restrict permissions (empty user password); refuse the rest."""
    try:
        result = reader.decrypt("")
    except Exception as exc:  # e.g. AES without the optional crypto dependency
        raise EncryptedPdf(f"pdf: cannot decrypt: {type(exc).__name__}: {exc}") from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise EncryptedPdf("pdf: user password required")


def _pdf_thumbnail(page: Any, limits: IntakeLimits) -> bytes | None:
    """A thumbnail from the largest image on the first page (scans are one image per page).
    Without a PDF renderer, pages made of text and vectors get no thumbnail."""
    try:
        pil = _pdf_page_image(page, limits)
        return None if pil is None else _thumbnail(pil, limits)
    except Exception as exc:  # a thumbnail is a nicety; never refuse a PDF over it
        log.debug("no pdf thumbnail: %s: %s", type(exc).__name__, exc)
        return None


def _pdf_page_image(page: Any, limits: IntakeLimits) -> Image.Image | None:
    """The largest image drawn on a page (at least 200x200, within `max_pixels`), or None."""
    xobjects = page["/Resources"].get_object().get("/XObject")
    if xobjects is None:
        return None
    xobjects = xobjects.get_object()
    best: tuple[int, str] | None = None
    for key in xobjects:
        obj = xobjects[key].get_object()
        if obj.get("/Subtype") != "/Image":
            continue
        w, h = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
        if w < 200 or h < 200 or w * h > limits.max_pixels:
            continue
        if best is None or w * h > best[0]:
            best = (w * h, str(key))
    if best is None:
        return None
    pil = page.images[best[1]].image
    if pil is None:
        return None
    return _normalise_mode(pil, keep_alpha=False)


def pdf_preview_png(
    data: bytes, *, max_side: int = 1600, limits: IntakeLimits | None = None
) -> bytes | None:
    """A PNG preview of a stored PDF's first page, when that page is a scan (its largest
    image: how phones and scanners make PDFs), at most `max_side` on its longest side; None
    for a page of text and vectors (there is no PDF renderer here) or anything unreadable.
    CPU-bound: call it in a thread (`pdf_preview_png_async`)."""
    limits = limits or IntakeLimits()
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt_without_password(reader)
        pil = _pdf_page_image(reader.pages[0], limits)
        if pil is None:
            return None
        size = _capped_size(pil.size, max_side)
        if size != pil.size:
            pil = pil.resize(size, Image.Resampling.BICUBIC, reducing_gap=1.5)
        buf = io.BytesIO()
        pil.save(buf, "PNG", compress_level=limits.png_compress_level, icc_profile=None)
        return buf.getvalue()
    except Exception as exc:  # a preview is a nicety: the PDF itself can still be downloaded
        log.debug("no pdf preview: %s: %s", type(exc).__name__, exc)
        return None


async def pdf_preview_png_async(data: bytes, *, max_side: int = 1600) -> bytes | None:
    """`pdf_preview_png` off the event loop."""
    return await asyncio.to_thread(pdf_preview_png, data, max_side=max_side)


# --------------------------------------------------------------------------------------------
# Helpers


def _media_family(media_type: str) -> str | None:
    media_type = media_type.lower()
    if media_type == "application/pdf":
        return "pdf"
    if media_type.startswith("image/"):
        return "image"
    return None


def _media_family_of(detected: str) -> str | None:
    if detected == "pdf":
        return "pdf"
    if detected in ("jpeg", "png", "webp", "heic"):
        return "image"
    return None
