"""Attachment store: content addressing, atomic writes, key validation, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from intake import storage
from intake.storage import (
    AttachmentStore,
    BlobCorruptError,
    BlobNotFoundError,
    BlobTooLargeError,
    InvalidKeyError,
    LocalAttachmentStore,
    StoredBlob,
    make_key,
    sanitize_suffix,
    validate_key,
)
from taxrules.errors import UserFacingError

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalAttachmentStore:
    return LocalAttachmentStore(tmp_path / "attachments")


def test_local_store_implements_protocol(store: LocalAttachmentStore) -> None:
    assert isinstance(store, AttachmentStore)


async def test_put_get_roundtrip(store: LocalAttachmentStore) -> None:
    blob = await store.put(PDF, ".pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    assert blob == StoredBlob(
        key=f"{digest[:2]}/{digest[2:4]}/{digest}.pdf", sha256=digest, size=len(PDF)
    )
    assert await store.exists(blob.key)
    assert await store.get(blob.key) == PDF
    assert store.path_for(blob.key).read_bytes() == PDF
    assert (store.path_for(blob.key).stat().st_mode & 0o777) == 0o600


async def test_same_content_stored_once(store: LocalAttachmentStore) -> None:
    a = await store.put(PDF, ".pdf")
    mtime = store.path_for(a.key).stat().st_mtime_ns
    b = await store.put(bytearray(PDF), "PDF")
    c = await store.put(PDF, "pdf")
    assert a == b == c
    assert files_under(store.root) == [store.path_for(a.key)]
    assert store.path_for(a.key).stat().st_mtime_ns == mtime  # not rewritten
    other = await store.put(PDF + b"x", ".pdf")
    assert other.key != a.key
    assert len(files_under(store.root)) == 2


async def test_empty_blob(store: LocalAttachmentStore) -> None:
    blob = await store.put(b"")
    assert blob.size == 0
    assert blob.sha256 == hashlib.sha256(b"").hexdigest()
    assert await store.get(blob.key) == b""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (".pdf", ".pdf"),
        ("PDF", ".pdf"),
        (".JPEG", ".jpg"),
        ("jpg", ".jpg"),
        (".png", ".png"),
        (".webp", ".webp"),
        (".tiff", ".tif"),
        ("", ""),
        (".exe", ""),
        (".pdf/../../x", ""),
        ("../../etc/passwd", ""),
        (".php.jpg", ""),
    ],
)
def test_sanitize_suffix(given: str, expected: str) -> None:
    assert sanitize_suffix(given) == expected


async def test_unknown_suffix_is_dropped(store: LocalAttachmentStore) -> None:
    blob = await store.put(b"MZ...", "/../../evil.exe")
    assert blob.key.endswith(blob.sha256)
    assert await store.get(blob.key) == b"MZ..."


async def test_delete_and_missing(store: LocalAttachmentStore) -> None:
    blob = await store.put(b"hello", ".png")
    await store.delete(blob.key)
    assert not await store.exists(blob.key)
    with pytest.raises(BlobNotFoundError) as info:
        await store.get(blob.key)
    assert "附件不存在" in info.value.user_message
    assert info.value.code == "attachment_not_found"
    await store.delete(blob.key)  # idempotent


async def test_corruption_detected_on_read(store: LocalAttachmentStore) -> None:
    blob = await store.put(b"original bytes", ".jpg")
    store.path_for(blob.key).write_bytes(b"tampered bytes")
    with pytest.raises(BlobCorruptError):
        await store.get(blob.key)
    # a put of the true content repairs it only if sizes differ; same size is trusted
    lax = LocalAttachmentStore(store.root, verify_on_read=False)
    assert await lax.get(blob.key) == b"tampered bytes"


async def test_size_limit(tmp_path: Path) -> None:
    store = LocalAttachmentStore(tmp_path, max_bytes=10)
    await store.put(b"0123456789")
    with pytest.raises(BlobTooLargeError) as info:
        await store.put(b"0123456789A")
    assert "文件过大" in info.value.user_message
    assert len(files_under(tmp_path)) == 1


async def test_truncated_file_is_rewritten(store: LocalAttachmentStore) -> None:
    blob = await store.put(PDF, ".pdf")
    store.path_for(blob.key).write_bytes(PDF[:100])
    assert await store.put(PDF, ".pdf") == blob
    assert await store.get(blob.key) == PDF


# --- key validation / traversal ---------------------------------------------------------------

GOOD_DIGEST = hashlib.sha256(b"x").hexdigest()
GOOD_KEY = f"{GOOD_DIGEST[:2]}/{GOOD_DIGEST[2:4]}/{GOOD_DIGEST}.pdf"

BAD_KEYS = [
    "../../etc/passwd",
    "/etc/passwd",
    f"../{GOOD_KEY}",
    f"{GOOD_KEY}/..",
    f"/{GOOD_KEY}",
    GOOD_KEY.replace("/", "\\"),
    GOOD_KEY.replace("/", "/../", 1),
    GOOD_KEY + ".exe",
    GOOD_KEY[:-4] + ".PDF",
    GOOD_KEY + "\x00",
    GOOD_KEY + "\n",
    GOOD_KEY.upper(),
    f"00/00/{GOOD_DIGEST}",  # shard directories must match the digest
    GOOD_DIGEST,
    "",
    ".",
    "ab/cd/" + "g" * 64,
    f"{GOOD_DIGEST[:2]}/{GOOD_DIGEST[2:4]}/{GOOD_DIGEST[:63]}",
    f"{GOOD_DIGEST[:2]}/{GOOD_DIGEST[2:4]}/{GOOD_DIGEST}0",
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_traversal_and_malformed_keys_rejected(
    store: LocalAttachmentStore, key: str
) -> None:
    # plant a file outside the root that a traversal would reach
    (store.root.parent / "secret.txt").write_text("secret")
    with pytest.raises(InvalidKeyError) as info:
        await store.get(key)
    assert info.value.user_message == "附件编号无效。"
    assert isinstance(info.value, UserFacingError)
    with pytest.raises(InvalidKeyError):
        await store.exists(key)
    with pytest.raises(InvalidKeyError):
        await store.delete(key)
    assert (store.root.parent / "secret.txt").read_text() == "secret"


@pytest.mark.parametrize("key", [None, 42, b"ab/cd"])
def test_non_string_keys_rejected(key: object) -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(key)


def test_make_key_and_validate() -> None:
    assert make_key(GOOD_DIGEST.upper(), ".pdf") == GOOD_KEY
    assert validate_key(GOOD_KEY) == GOOD_KEY
    with pytest.raises(InvalidKeyError):
        make_key("not-a-digest")


# --- atomicity --------------------------------------------------------------------------------


async def test_no_partial_file_visible_before_rename(
    store: LocalAttachmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bool, bytes]] = []
    real_replace = os.replace

    def spying_replace(src: str, dst: str | Path) -> None:
        # at rename time the final name must not exist yet and the temp file must be complete
        seen.append((Path(dst).exists(), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", spying_replace)
    blob = await store.put(PDF, ".pdf")
    assert seen == [(False, PDF)]
    assert files_under(store.root) == [store.path_for(blob.key)]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
async def test_failed_write_leaves_nothing(
    store: LocalAttachmentStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, failing, boom)
    with pytest.raises(OSError, match="No space"):
        await store.put(PDF, ".pdf")
    monkeypatch.undo()
    assert files_under(store.root) == []  # neither the final file nor a temp file
    key = make_key(hashlib.sha256(PDF).hexdigest(), ".pdf")
    assert not await store.exists(key)
    # and a retry works
    assert (await store.put(PDF, ".pdf")).key == key


async def test_failure_mid_write_leaves_nothing(
    store: LocalAttachmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, fh: object) -> None:
            self.fh = fh

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])  # type: ignore[attr-defined]
            raise OSError(5, "I/O error")

    monkeypatch.setattr(storage.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="I/O error"):
        await store.put(PDF, ".pdf")
    assert files_under(store.root) == []


async def test_purge_stale_temp_files(store: LocalAttachmentStore) -> None:
    blob = await store.put(PDF, ".pdf")
    shard = store.path_for(blob.key).parent
    stale = shard / ".tmp-crashed.part"
    fresh = shard / ".tmp-writing.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert await store.purge_temp_files(older_than_seconds=3600) == 1
    assert not stale.exists()
    assert fresh.exists()
    assert await store.get(blob.key) == PDF


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrent_puts_of_same_content(store: LocalAttachmentStore) -> None:
    payload = os.urandom(256 * 1024)
    blobs = await asyncio.gather(*(store.put(payload, ".jpg") for _ in range(24)))
    assert len({b.key for b in blobs}) == 1
    assert files_under(store.root) == [store.path_for(blobs[0].key)]  # no temp files left
    assert await store.get(blobs[0].key) == payload


async def test_concurrent_puts_of_different_content(store: LocalAttachmentStore) -> None:
    payloads = [os.urandom(4096) for _ in range(20)]
    blobs = await asyncio.gather(*(store.put(p, ".png") for p in payloads))
    assert len({b.key for b in blobs}) == 20
    for blob, payload in zip(blobs, payloads, strict=True):
        assert await store.get(blob.key) == payload
