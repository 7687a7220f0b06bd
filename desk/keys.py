"""The console's key (session cookies, one-time setup links): `CONSOLE_SECRET` (32
url-safe base64 bytes, as
`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`
prints), or else a key made once and kept in `<data dir>/console.key` (mode 0600), so sessions
survive restarts and every process on the same data directory shares it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet

KEY_FILE = "console.key"


def load_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The 32-byte key (blocking: call at start-up or in a thread)."""
    if configured:
        key = configured.encode()
    else:
        path = Path(data_dir) / KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # written aside, then linked: a reader never sees half a key
            tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process made it first: use theirs
                pass
            finally:
                tmp.unlink()
        key = path.read_bytes().strip()
    raw = base64.urlsafe_b64decode(key)
    if len(raw) != 32:
        raise ValueError("CONSOLE_SECRET must be 32 bytes in url-safe base64 (Fernet key)")
    return raw
