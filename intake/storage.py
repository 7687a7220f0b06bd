"""Content-addressed attachment store.

Blobs are addressed by the SHA-256 of their bytes: the key is ``ab/cd/<64 hex>`` plus an
optional suffix from a short whitelist (``.pdf .jpg .png .webp .gif .heic .tif``), e.g.
``3a/7b/3a7b...e1.pdf``.  Storing the same bytes with the same suffix twice stores them once.
Keys are always produced by the store and checked against a strict pattern before any file
system access, so a key that came from user input can never name a path outside the root.

:class:`AttachmentStore` is the interface the services depend on; it has nothing a local
file system has and S3 lacks (no paths), so an S3-compatible store can implement it with
``PutObject`` / ``GetObject`` / ``HeadObject`` / ``DeleteObject`` on the same keys.

Because content is shared, :meth:`AttachmentStore.delete` removes the blob for every
attachment that references the key; callers must only delete keys no row references.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from taxrules.errors import UserFacingError

__all__ = [
    "ALLOWED_SUFFIXES",
    "AttachmentStore",
    "BlobCorruptError",
    "BlobNotFoundError",
    "BlobTooLargeError",
    "InvalidKeyError",
    "LocalAttachmentStore",
    "StorageError",
    "StoredBlob",
    "make_key",
    "sanitize_suffix",
    "validate_key",
]

#: Suffixes kept in keys (lower case); aliases map to their canonical form; anything else is
#: dropped (the blob is stored without a suffix).
ALLOWED_SUFFIXES: frozenset[str] = frozenset(
    {".pdf", ".jpg", ".png", ".webp", ".gif", ".heic", ".tif"}
)
_SUFFIX_ALIASES = {".jpeg": ".jpg", ".jpe": ".jpg", ".tiff": ".tif", ".heif": ".heic"}
_SUFFIX_PATTERN = "|".join(re.escape(s[1:]) for s in sorted(ALLOWED_SUFFIXES))
_KEY_RE = re.compile(
    rf"(?P<a>[0-9a-f]{{2}})/(?P<b>[0-9a-f]{{2}})/(?P<digest>[0-9a-f]{{64}})"
    rf"(?P<suffix>\.(?:{_SUFFIX_PATTERN}))?"
)
_TEMP_PREFIX = ".tmp-"
_TEMP_SUFFIX = ".part"


class StorageError(UserFacingError):
    """Base class of attachment-store errors (``user_message`` is fit to show a user)."""

    code = "attachment_storage"

    def __init__(self, message: str, user_message: str) -> None:
        super().__init__(message, user_message)


class InvalidKeyError(StorageError, ValueError):
    """The key is not one this store could have produced (e.g. path traversal)."""

    code = "attachment_key_invalid"

    def __init__(self, key: object) -> None:
        self.key = key
        super().__init__(f"invalid attachment key {str(key)[:80]!r}", "附件编号无效。")


class BlobNotFoundError(StorageError, LookupError):
    """No blob is stored under the key."""

    code = "attachment_not_found"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no blob stored under {key}", "附件不存在或已删除。")


class BlobCorruptError(StorageError):
    """The stored bytes no longer match the key's hash."""

    code = "attachment_corrupt"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"blob {key} does not match its hash", "附件文件已损坏，请重新上传。")


class BlobTooLargeError(StorageError):
    """The data exceeds the store's size limit."""

    code = "attachment_too_large"

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        mb = limit / (1024 * 1024)
        super().__init__(
            f"blob of {size} bytes exceeds the limit of {limit}", f"文件过大，最大 {mb:g} MB。"
        )


@dataclass(frozen=True)
class StoredBlob:
    """What a put returns: the key to keep in the database, the content hash and the size."""

    key: str
    sha256: str
    size: int


@runtime_checkable
class AttachmentStore(Protocol):
    """Where attachment bytes live.  Implementations: local directory, later S3."""

    async def put(self, data: bytes, suffix: str = "") -> StoredBlob:
        """Store ``data`` (idempotent for identical content) and return its key."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`BlobNotFoundError` if absent."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key``."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob under ``key``; deleting a missing key is not an error."""
        ...


def sanitize_suffix(suffix: str) -> str:
    """Map a file name suffix or extension (``"PDF"``, ``".jpeg"``) to the key suffix.

    Returns ``""`` for anything outside the whitelist.
    """
    s = (suffix or "").strip().lower()
    if not s:
        return ""
    if not s.startswith("."):
        s = "." + s
    s = _SUFFIX_ALIASES.get(s, s)
    return s if s in ALLOWED_SUFFIXES else ""


def make_key(sha256_hex: str, suffix: str = "") -> str:
    """The key for a content hash and a suffix (sanitised)."""
    digest = sha256_hex.lower()
    key = f"{digest[:2]}/{digest[2:4]}/{digest}{sanitize_suffix(suffix)}"
    validate_key(key)
    return key


def validate_key(key: object) -> str:
    """Return ``key`` if it is a well-formed store key, else raise :class:`InvalidKeyError`.

    The hash directories must agree with the digest, so every blob has exactly one key.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(key)
    m = _KEY_RE.fullmatch(key)
    if m is None or m["a"] != m["digest"][:2] or m["b"] != m["digest"][2:4]:
        raise InvalidKeyError(key)
    return key


class LocalAttachmentStore:
    """:class:`AttachmentStore` on a local directory (``$TAXDESK_DATA_DIR/attachments``).

    Writes are atomic: a temporary file in the destination directory is written, fsynced and
    renamed over the final name with ``os.replace``, so readers see either no file or the
    whole file; the temporary file is removed if anything fails.  Concurrent puts of the
    same content are safe (the last rename wins with identical bytes).  All file I/O runs in
    a worker thread.  Files are created with mode 0600 (taxpayer documents).
    """

    def __init__(
        self, root: Path, *, max_bytes: int | None = None, verify_on_read: bool = True
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.verify_on_read = verify_on_read

    def path_for(self, key: str) -> Path:
        """The file path of a validated key (for operators and tests; never from user input
        without this check)."""
        validate_key(key)
        # Defence in depth (pure string work, no I/O): the pattern already rules out "..",
        # absolute paths and backslashes.
        root = os.path.abspath(self.root)
        path = os.path.normpath(os.path.join(root, key))
        if os.path.commonpath([root, path]) != root or path == root:
            raise InvalidKeyError(key)
        return Path(path)

    async def put(self, data: bytes, suffix: str = "") -> StoredBlob:
        """Store ``data``; identical content with the same suffix is stored once."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("data must be bytes")
        data = bytes(data)
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise BlobTooLargeError(len(data), self.max_bytes)
        return await asyncio.to_thread(self._put_sync, data, suffix)

    async def get(self, key: str) -> bytes:
        """The stored bytes; checks them against the hash unless ``verify_on_read`` is off."""
        path = self.path_for(key)
        return await asyncio.to_thread(self._get_sync, key, path)

    async def exists(self, key: str) -> bool:
        """Whether the blob is stored."""
        path = self.path_for(key)
        return await asyncio.to_thread(path.is_file)

    async def delete(self, key: str) -> None:
        """Remove the blob (idempotent)."""
        path = self.path_for(key)
        await asyncio.to_thread(self._delete_sync, path)

    async def purge_temp_files(self, older_than_seconds: float = 3600.0) -> int:
        """Remove temporary files left by a crash mid-write; returns how many were removed."""
        return await asyncio.to_thread(self._purge_sync, older_than_seconds)

    # -- blocking parts, run in a thread ---------------------------------------------------

    def _put_sync(self, data: bytes, suffix: str) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        key = make_key(digest, suffix)
        blob = StoredBlob(key=key, sha256=digest, size=len(data))
        final = self.path_for(key)
        try:
            if final.stat().st_size == len(data):
                return blob  # already stored (content-addressed)
        except FileNotFoundError:
            pass
        directory = final.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(directory)
        return blob

    def _get_sync(self, key: str, path: Path) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(key) from None
        if self.verify_on_read:
            digest = validate_key(key).split("/")[2][:64]
            if hashlib.sha256(data).hexdigest() != digest:
                raise BlobCorruptError(key)
        return data

    @staticmethod
    def _delete_sync(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def _purge_sync(self, older_than_seconds: float) -> int:
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for tmp in self.root.glob(f"*/*/{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
