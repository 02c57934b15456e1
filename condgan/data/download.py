"""Checked, atomic downloads of public data files (docs/methods.md §8: "standard URL downloads with
checksums when online").

The file is streamed to a temporary name in the destination directory while its digests are
computed, verified, then renamed into place: a crash, a bad network or a wrong checksum never
leaves a half-written or unverified file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from condgan.errors import CondganError
from condgan.io import atomic_path

CHUNK = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_url(url: str, dest_path: str | os.PathLike, sha256: Optional[str] = None,
                 md5: Optional[str] = None, timeout: float = 60.0) -> Path:
    """Download `url` to `dest_path`, verifying the given checksum(s); returns the path.

    Raises CondganError naming the URL on HTTP / network errors and, on a checksum mismatch,
    with both the expected and the actual digest (the partial file is deleted).
    """
    dest = Path(dest_path).expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    hashers = {name: hashlib.new(name) for name, want in (("sha256", sha256), ("md5", md5)) if want}
    with atomic_path(dest, suffix=".part") as tmp:
        with open(tmp, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        out.write(block)
                        for h in hashers.values():
                            h.update(block)
            except urllib.error.HTTPError as e:
                raise CondganError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise CondganError(f"download of {url} failed ({reason}); check the network, or "
                                   f"fetch the file by hand to {dest}") from None
            out.flush()
            os.fsync(out.fileno())
        for name, want in (("sha256", sha256), ("md5", md5)):
            if want and hashers[name].hexdigest() != want.lower():
                raise CondganError(f"download of {url}: {name} mismatch, expected {want.lower()}, "
                                   f"got {hashers[name].hexdigest()}; the file was deleted")
    return dest


def safe_extract_tar(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> None:
    """Extract a tar archive, refusing members that would land outside `dest_dir` (absolute
    paths, '..', links) or that are not plain files / directories: a hostile archive must not
    write anywhere else (CVE-2007-4559)."""
    dest = Path(dest_dir).resolve()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                target = (dest / m.name).resolve()
                if not (m.isfile() or m.isdir()) or (target != dest and dest not in target.parents):
                    raise CondganError(f"archive {archive}: refusing unsafe member '{m.name}'")
            for m in members:
                if m.isdir():
                    (dest / m.name).mkdir(parents=True, exist_ok=True)
                    continue
                target = dest / m.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as out:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        out.write(block)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise CondganError(f"archive {archive} cannot be extracted ({type(e).__name__}: {e})") from None
