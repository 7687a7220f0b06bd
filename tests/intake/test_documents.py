"""Tests for intake.documents: every fixture is generated here, in memory."""

from __future__ import annotations

import asyncio
import hashlib
import io
import pickle
import struct
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfWriter

from intake.documents import (
    CheckedDocument,
    CorruptFile,
    DecompressionBomb,
    DocumentRejected,
    EmptyFile,
    EncryptedPdf,
    FileTooLarge,
    IntakeLimits,
    TooManyPages,
    UnsupportedType,
    inspect_upload,
    inspect_upload_async,
    pdf_preview_png,
    sanitize_filename,
    sniff,
)

UNSUPPORTED_MSG = "暂不支持这种文件，请发送 PDF 或 JPG/PNG 照片。"
TOO_LARGE_MSG = "文件超过 20 MB，请压缩后再发，或分页拍照发送。"


# ------------------------------------------------------------------------------------ fixtures


def _quadrant_image(width: int = 64, height: int = 32) -> Image.Image:
    """Four flat colours, so orientation can be checked pixel-wise after JPEG loss."""
    im = Image.new("RGB", (width, height), (255, 0, 0))
    im.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    im.paste((0, 0, 255), (0, height // 2, width // 2, height))
    im.paste((255, 255, 0), (width // 2, height // 2, width, height))
    return im


def _noise_image(width: int, height: int, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _exif_with_gps(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SecretPhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 13.0, 48.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (121.0, 28.0, 12.0)
    return exif


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b"<rdf:Description/></rdf:RDF></x:xmpmeta>"
)


def _jpeg_with_metadata(orientation: int = 6) -> tuple[bytes, Image.Image]:
    im = _quadrant_image()
    buf = io.BytesIO()
    im.save(
        buf,
        "JPEG",
        quality=95,
        exif=_exif_with_gps(orientation),
        icc_profile=_srgb_icc(),
        xmp=XMP,
        comment=b"scanned at home",
    )
    return buf.getvalue(), im


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _pdf(pages: int = 2, *, user_password: str | None = None, owner: str = "owner") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password=owner, algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _scanned_pdf() -> bytes:
    buf = io.BytesIO()
    _noise_image(600, 800).save(buf, "PDF", resolution=72)
    return buf.getvalue()


def _decode(doc: CheckedDocument) -> Image.Image:
    im = Image.open(io.BytesIO(doc.data))
    im.load()
    return im


# ------------------------------------------------------------------------------------ images


def test_jpeg_is_turned_upright_and_stripped_of_all_metadata() -> None:
    data, original = _jpeg_with_metadata(orientation=6)
    # The fixture really carries what must go away.
    src = Image.open(io.BytesIO(data))
    assert src.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "icc_profile" in src.info and b"xmpmeta" in data and b"SecretPhoneMaker" in data

    doc = inspect_upload(data, filename="IMG_0001.JPG")

    assert doc.kind == "image" and doc.media_type == "image/jpeg"
    assert doc.source_format == "jpeg" and doc.suggested_extension == ".jpg"
    assert (doc.width, doc.height) == (32, 64)  # 64x32 stored, orientation 6 -> swapped
    out = _decode(doc)
    assert out.size == (32, 64)
    assert not out.getexif()
    assert not out.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    for key in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"):
        assert key not in out.info, key
    for needle in (b"Exif", b"SecretPhoneMaker", b"xmpmeta", b"ICC_PROFILE", b"scanned at home"):
        assert needle not in doc.data, needle
    # Pixels are what a viewer honouring the EXIF orientation would show.
    expected = ImageOps.exif_transpose(src)
    assert expected.size == out.size
    diff = np.abs(np.asarray(expected, dtype=int) - np.asarray(out.convert("RGB"), dtype=int))
    assert diff.mean() < 12
    assert original.size == (64, 32)
    assert doc.sha256 == hashlib.sha256(doc.data).hexdigest()
    assert doc.original_sha256 == hashlib.sha256(data).hexdigest()
    assert doc.size == len(doc.data) and doc.page_count == 1


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_every_orientation_matches_exif_transpose(orientation: int) -> None:
    data, _ = _jpeg_with_metadata(orientation=orientation)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    out = _decode(inspect_upload(data))
    assert out.size == expected.size
    diff = np.abs(np.asarray(expected, dtype=int) - np.asarray(out, dtype=int))
    assert diff.mean() < 12


def test_thumbnail_is_small_upright_jpeg() -> None:
    buf = io.BytesIO()
    _noise_image(1200, 600).save(buf, "JPEG", exif=_exif_with_gps(6))
    doc = inspect_upload(buf.getvalue())
    assert doc.thumbnail is not None and doc.thumbnail_media_type == "image/jpeg"
    thumb = Image.open(io.BytesIO(doc.thumbnail))
    assert thumb.format == "JPEG"
    assert max(thumb.size) <= 320 and thumb.size[0] < thumb.size[1]
    assert b"Exif" not in doc.thumbnail


def test_png_text_chunks_exif_and_icc_are_dropped() -> None:
    info = PngInfo()
    info.add_text("Author", "Zhang San")
    info.add_text("Comment", "taxpayer 91310115MA1K3YJ12G", zip=True)
    info.add_itxt("Description", "家庭住址", lang="zh", tkey="描述")
    buf = io.BytesIO()
    _quadrant_image(80, 40).save(
        buf, "PNG", pnginfo=info, exif=_exif_with_gps(1), icc_profile=_srgb_icc()
    )
    data = buf.getvalue()
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"} <= set(_png_chunks(data))

    doc = inspect_upload(data)

    assert doc.media_type == "image/png" and doc.suggested_extension == ".png"
    assert set(_png_chunks(doc.data)) <= {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
    assert b"Zhang San" not in doc.data and b"91310115" not in doc.data
    assert _decode(doc).size == (80, 40)


def test_png_alpha_is_kept_only_when_used() -> None:
    transparent = Image.new("RGBA", (50, 40), (10, 20, 30, 0))
    transparent.paste((200, 0, 0, 255), (0, 0, 25, 40))
    opaque = Image.new("RGBA", (50, 40), (10, 20, 30, 255))
    for im, mode in ((transparent, "RGBA"), (opaque, "RGB")):
        buf = io.BytesIO()
        im.save(buf, "PNG")
        doc = inspect_upload(buf.getvalue())
        assert doc.media_type == "image/png"
        assert _decode(doc).mode == mode
        assert doc.thumbnail is not None


def test_webp_is_accepted_and_stored_as_jpeg() -> None:
    buf = io.BytesIO()
    _quadrant_image().save(buf, "WEBP", quality=90, exif=_exif_with_gps(8))
    doc = inspect_upload(buf.getvalue(), filename="x.webp")
    assert doc.source_format == "webp" and doc.media_type == "image/jpeg"
    assert (doc.width, doc.height) == (32, 64)
    assert not _decode(doc).getexif()


def test_jpeg_named_pdf_is_still_an_image() -> None:
    data, _ = _jpeg_with_metadata()
    doc = inspect_upload(data, filename="承诺书.pdf", declared_type="application/pdf")
    assert doc.kind == "image" and doc.media_type == "image/jpeg"
    assert doc.original_name == "承诺书.pdf"
    assert doc.safe_filename == "承诺书.jpg"


def test_large_jpeg_is_capped_using_dct_scaling() -> None:
    buf = io.BytesIO()
    _noise_image(3000, 1000).save(buf, "JPEG", quality=80)
    limits = IntakeLimits(max_side=1000)
    doc = inspect_upload(buf.getvalue(), limits=limits)
    assert doc.width is not None and doc.height is not None
    assert limits.draft_tolerance * 1000 <= doc.width <= 1000
    assert doc.width / doc.height == pytest.approx(3.0, rel=0.02)


def test_large_png_is_capped_to_max_side() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (3000, 1000), (120, 130, 140)).save(buf, "PNG")
    doc = inspect_upload(buf.getvalue(), limits=IntakeLimits(max_side=1000))
    assert (doc.width, doc.height) == (1000, 333)


def _encoded(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _palette_with_transparency() -> Image.Image:
    im = Image.new("P", (40, 30), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    return im


@pytest.mark.parametrize(
    ("data", "media_type", "mode", "pixel"),
    [
        (
            _encoded(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"),
            "image/jpeg",
            "RGB",
            (254, 0, 0),
        ),
        (
            _encoded(Image.fromarray(np.full((30, 40), 51200, np.uint16)), "PNG"),
            "image/png",
            "L",
            200,
        ),
        (_encoded(Image.new("LA", (40, 30), (100, 50)), "PNG"), "image/png", "LA", (100, 50)),
        (
            _encoded(_palette_with_transparency(), "PNG", transparency=0),
            "image/png",
            "RGBA",
            (255, 0, 0, 0),
        ),
        (
            _encoded(Image.new("RGBA", (40, 30), (1, 2, 3, 100)), "WEBP", lossless=True),
            "image/png",
            "RGBA",
            (1, 2, 3, 100),
        ),
        (_encoded(Image.new("L", (40, 30), 90), "JPEG"), "image/jpeg", "L", 90),
        (_encoded(Image.new("1", (40, 30), 1), "PNG"), "image/png", "L", 255),
    ],
)
def test_image_modes_are_normalised(
    data: bytes, media_type: str, mode: str, pixel: int | tuple[int, ...]
) -> None:
    doc = inspect_upload(data)
    out = _decode(doc)
    assert doc.media_type == media_type
    assert (out.mode, out.size) == (mode, (40, 30))
    got = out.getpixel((0, 0))
    if isinstance(pixel, tuple):
        assert isinstance(got, tuple)
        assert all(abs(a - b) <= 2 for a, b in zip(got, pixel, strict=True))
    else:
        assert isinstance(got, int) and abs(got - pixel) <= 2


# ------------------------------------------------------------------------------------ bad images


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    data = _png_header_only(30_000, 30_000)
    assert len(data) < 200
    with pytest.raises(DecompressionBomb) as exc:
        inspect_upload(data)
    assert exc.value.code == "decompression_bomb"
    assert "图片尺寸过大" in exc.value.user_message


def test_bomb_is_refused_even_with_pillows_global_limit_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(DecompressionBomb):
        inspect_upload(_png_header_only(30_000, 30_000))


def test_per_call_pixel_limit_applies_to_a_real_image() -> None:
    buf = io.BytesIO()
    Image.new("L", (2000, 1000)).save(buf, "PNG")  # highly compressible, a few KB
    with pytest.raises(DecompressionBomb):
        inspect_upload(buf.getvalue(), limits=IntakeLimits(max_pixels=1_000_000))
    assert inspect_upload(buf.getvalue()).kind == "image"


def test_truncated_jpeg_is_corrupt() -> None:
    buf = io.BytesIO()
    _noise_image(300, 300).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    with pytest.raises(CorruptFile) as exc:
        inspect_upload(data[: len(data) // 2])
    assert exc.value.code == "corrupt_file"
    assert exc.value.user_message == "文件已损坏或不完整，无法打开。请重新导出或重新拍照后再发送。"


def test_truncated_png_is_corrupt() -> None:
    buf = io.BytesIO()
    _noise_image(300, 300).save(buf, "PNG")
    data = buf.getvalue()
    with pytest.raises(CorruptFile):
        inspect_upload(data[: len(data) // 2])


def test_garbage_after_image_magic_is_corrupt() -> None:
    with pytest.raises(CorruptFile):
        inspect_upload(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50)


def test_truncated_images_are_refused_even_if_the_global_is_flipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        inspect_upload(_jpeg_with_metadata()[0])


# ------------------------------------------------------------------------------------ sizes, types


def test_zero_bytes() -> None:
    with pytest.raises(EmptyFile) as exc:
        inspect_upload(b"", filename="a.pdf")
    assert exc.value.code == "empty_file"
    assert "空的" in exc.value.user_message


def test_21_mb_is_too_large_before_any_parsing() -> None:
    data = b"%PDF-1.7\n" + b"\0" * (21 * 1024 * 1024)
    with pytest.raises(FileTooLarge) as exc:
        inspect_upload(data)
    assert exc.value.code == "file_too_large"
    assert exc.value.user_message == TOO_LARGE_MSG
    assert exc.value.limit_mb == 20


def test_size_limit_is_configurable() -> None:
    data = _pdf(1)
    assert inspect_upload(data, max_bytes=len(data)).kind == "pdf"
    with pytest.raises(FileTooLarge) as exc:
        inspect_upload(data, max_bytes=len(data) - 1)
    assert exc.value.user_message.startswith(f"文件超过 {round((len(data) - 1) / 1024)} KB")
    assert FileTooLarge(5).user_message.startswith("文件超过 5 MB，")


def _docx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (_docx_like(), "zip"),
        (b"MZ\x90\x00" + b"\0" * 100, "exe"),
        ("纳税人识别号 91310115MA1K3YJ12G\n".encode(), "unknown"),
        (b"GIF89a" + b"\0" * 20, "gif"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "ole"),
    ],
)
def test_other_kinds_are_refused_listing_accepted_ones(data: bytes, detected: str) -> None:
    with pytest.raises(UnsupportedType) as exc:
        inspect_upload(data, filename="申报表.pdf", declared_type="application/pdf")
    assert exc.value.detected == detected
    assert exc.value.code == "unsupported_type"
    assert exc.value.user_message == UNSUPPORTED_MSG


def test_heic_is_refused_with_its_own_message_when_pillow_cannot_read_it() -> None:
    data = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64
    assert sniff(data) == "heic"
    Image.init()
    if "HEIF" in Image.OPEN:
        pytest.skip("a HEIF plugin is installed here")
    with pytest.raises(UnsupportedType) as exc:
        inspect_upload(data, filename="IMG_1234.HEIC")
    assert "HEIC" in exc.value.user_message


# ------------------------------------------------------------------------------------ PDFs


def test_pdf_is_kept_as_is_with_page_count() -> None:
    data = _pdf(3)
    doc = inspect_upload(data, filename="承诺书.pdf")
    assert doc.kind == "pdf" and doc.media_type == "application/pdf"
    assert doc.page_count == 3
    assert doc.data == data and doc.size == len(data)
    assert doc.sha256 == doc.original_sha256 == hashlib.sha256(data).hexdigest()
    assert doc.suggested_extension == ".pdf" and doc.width is None
    assert doc.thumbnail is None  # blank vector pages: nothing to thumbnail without a renderer


def test_scanned_pdf_gets_a_thumbnail_from_its_page_image() -> None:
    doc = inspect_upload(_scanned_pdf())
    assert doc.page_count == 1
    assert doc.thumbnail is not None and doc.thumbnail_media_type == "image/jpeg"
    thumb = Image.open(io.BytesIO(doc.thumbnail))
    assert max(thumb.size) <= 320 and thumb.size[0] < thumb.size[1]


def test_a_scanned_pdf_gets_a_png_preview_of_its_first_page() -> None:
    png = pdf_preview_png(_scanned_pdf(), max_side=400)
    assert png is not None and png.startswith(b"\x89PNG")
    im = Image.open(io.BytesIO(png))
    assert im.size == (300, 400)  # the page image, scaled to fit 400
    assert pdf_preview_png(_pdf(2)) is None  # a page of vectors: no renderer, no preview
    assert pdf_preview_png(b"%PDF-1.4 not really") is None


def test_password_protected_pdf_is_refused() -> None:
    with pytest.raises(EncryptedPdf) as exc:
        inspect_upload(_pdf(2, user_password="secret"))
    assert exc.value.code == "encrypted_pdf"
    assert "密码" in exc.value.user_message


def test_pdf_with_only_an_owner_password_opens() -> None:
    doc = inspect_upload(_pdf(2, user_password=""))
    assert doc.page_count == 2


def test_too_many_pages() -> None:
    with pytest.raises(TooManyPages) as exc:
        inspect_upload(_pdf(6), limits=IntakeLimits(max_pdf_pages=5))
    assert (exc.value.pages, exc.value.limit) == (6, 5)
    assert exc.value.user_message == (
        "PDF 页数过多（6 页，最多 5 页），请只发送需要的页面，或分成几份发送。"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\nthis is not a pdf at all\n%%EOF\n",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << >>\n%%EOF",
    ],
)
def test_corrupt_pdf(data: bytes) -> None:
    with pytest.raises(CorruptFile):
        inspect_upload(data)


def test_truncated_pdf() -> None:
    data = _scanned_pdf()
    with pytest.raises(CorruptFile):
        inspect_upload(data[: len(data) // 2])


def test_pdf_whose_first_page_is_unreadable() -> None:
    # A well-formed file whose page tree points to an object that is not a page.
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"(not a page)",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    with pytest.raises(CorruptFile):
        inspect_upload(bytes(out))


# ------------------------------------------------------------------------------------ misc


def test_filename_is_sanitised() -> None:
    assert sanitize_filename("../../etc/pass\u202ewd.jpg") == "passwd.jpg"
    assert sanitize_filename("C:\\Users\\张三\\发票 \x00<1>.png") == "发票 _1_.png"
    assert sanitize_filename("...") is None and sanitize_filename(None) is None
    long = sanitize_filename("长" * 300 + ".pdf")
    assert long is not None and len(long) <= 120 and long.endswith(".pdf")


def test_errors_pickle_with_their_arguments() -> None:
    for err in (
        FileTooLarge(20),
        TooManyPages(300, 200),
        UnsupportedType("heic"),
        CorruptFile("x"),
        EncryptedPdf(),
    ):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and copy.user_message == err.user_message
        assert isinstance(copy, DocumentRejected)


async def test_async_runs_off_the_loop_and_raises_typed_errors() -> None:
    data, _ = _jpeg_with_metadata()
    doc = await inspect_upload_async(data)
    assert doc.width == 32
    with ThreadPoolExecutor(max_workers=1) as pool:
        docs = await asyncio.gather(
            inspect_upload_async(_pdf(1), executor=pool),
            inspect_upload_async(data, executor=pool),
        )
        assert [d.kind for d in docs] == ["pdf", "image"]
        with pytest.raises(UnsupportedType):
            await inspect_upload_async(b"hello", executor=pool)
    assert pickle.loads(pickle.dumps(doc)) == doc


def test_png_exif_orientation_is_applied() -> None:
    buf = io.BytesIO()
    _quadrant_image(64, 32).save(buf, "PNG", exif=_exif_with_gps(6))
    doc = inspect_upload(buf.getvalue())
    assert (doc.width, doc.height) == (32, 64)
    assert b"eXIf" not in doc.data
