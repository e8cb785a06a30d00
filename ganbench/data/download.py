"""Fetch one raw dataset file from an ordered list of mirrors, verified by MD5, written atomically.

A mirror is a base location that holds the file under its own name: an ``http://``, ``https://`` or ``file://``
URL, or a plain local folder. Mirrors are tried in order; the first one that yields a complete file with the right
checksum wins. A failed attempt (unreachable, missing file, truncated gzip, checksum mismatch) leaves nothing under
``dest_dir`` except what was there before, and the next mirror is tried. When every mirror fails the DataError lists
each mirror's failure and says how to point the config at a local copy.

A file named after torch.hub's convention (``name-<first hex digits of its SHA-256>.ext``, pretrained weights) is
verified by that prefix instead (``sha256_prefix``).

For ``.gz`` files, ``decompressed_md5`` is the checksum of the *decompressed* bytes. Repackaged copies (Debian's
``dataset-fashion-mnist`` recompresses the official files) have other ``.gz`` checksums but identical content, so
when ``decompressed_md5`` is given it is the checksum that is verified. A ``.gz`` file must always decompress
completely: a truncated or corrupt one is an error even when no checksum is known.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Any

from ganbench.errors import ConfigError, DataError
from ganbench.io import atomic_open

log = logging.getLogger(__name__)

CHUNK = 1 << 20
URL_SCHEMES = ("http", "https", "file")
DEFAULT_TIMEOUT_S = 60.0


class _Verifier:
    """Streams a file's bytes once: MD5 of the bytes, and for gzip also the MD5 and completeness of the content."""

    def __init__(self, gzipped: bool, sha256: bool = False):
        self.gzipped = gzipped
        self.file_sha256 = hashlib.sha256() if sha256 else None
        self.file_md5 = hashlib.md5()
        self.content_md5 = hashlib.md5()
        self._inflater: Any = None  # zlib decompressor of the gzip member being read, None between members
        self._members = 0

    def update(self, chunk: bytes) -> None:
        self.file_md5.update(chunk)
        if self.file_sha256 is not None:
            self.file_sha256.update(chunk)
        if self.gzipped:
            self._inflate(chunk)

    def _inflate(self, data: bytes) -> None:
        while data:  # a .gz file may hold several concatenated members, and NUL padding between them
            if self._inflater is None:
                data = data.lstrip(b"\0")
                if not data:
                    return
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                self.content_md5.update(self._inflater.decompress(data))
            except zlib.error as exc:
                raise DataError(f"corrupt gzip data ({exc})") from None
            if not self._inflater.eof:
                return
            data = self._inflater.unused_data
            self._inflater = None
            self._members += 1

    def finish(self) -> None:
        """Raise DataError if a gzip stream ended early (truncated download or file)."""
        if self.gzipped and (self._inflater is not None or self._members == 0):
            raise DataError("truncated gzip file (the compressed stream ends before its end-of-stream marker)")

    def check(self, md5: str | None, decompressed_md5: str | None, sha256_prefix: str | None = None) -> None:
        """Raise DataError unless the stream was complete and matches the checksum that applies."""
        self.finish()
        if sha256_prefix and self.file_sha256 is not None:
            actual = self.file_sha256.hexdigest()
            if not actual.startswith(sha256_prefix.lower()):
                raise DataError(f"checksum mismatch: expected a SHA-256 starting {sha256_prefix}, got {actual}")
            return
        if decompressed_md5 and (self.gzipped or not md5):  # an uncompressed file's content is its bytes
            content = self.content_md5 if self.gzipped else self.file_md5
            what, expected, actual = "decompressed md5", decompressed_md5, content.hexdigest()
        elif md5:
            what, expected, actual = "md5", md5, self.file_md5.hexdigest()
        else:
            return
        if actual != expected.lower():
            raise DataError(f"checksum mismatch: expected {what} {expected}, got {actual}")


def mirror_list(value: Any, key: str) -> list[str]:
    """Validate a ``mirrors`` option (a non-empty list of non-empty strings); ``key`` names it in the error."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(m, str) and m.strip() for m in value):
        raise ConfigError(
            f"{key}: expected a non-empty list of base URLs or folders "
            f"(e.g. ['file:///usr/share/datasets/fashion-mnist/']), got {value!r}"
        )
    return [m.strip() for m in value]


def file_url(mirror: str, filename: str) -> str:
    """The location of ``filename`` under ``mirror`` (a base URL or a folder), as shown in messages."""
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + urllib.parse.quote(filename)
    return str(Path(mirror).expanduser() / filename)


def _open_source(mirror: str, filename: str, timeout: float) -> IO[bytes]:
    if "://" not in mirror:
        return open(Path(mirror).expanduser() / filename, "rb")
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    if scheme not in URL_SCHEMES:
        raise ValueError(f"unsupported URL scheme {scheme!r}; use one of {', '.join(URL_SCHEMES)} or a folder path")
    request = urllib.request.Request(file_url(mirror, filename), headers={"User-Agent": "ganbench"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked above)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _download(
    filename: str, mirror: str, dest: Path, md5: str | None, decompressed_md5: str | None, timeout: float,
    sha256_prefix: str | None = None,
) -> None:
    """Copy ``filename`` from one mirror to ``dest`` through a temp file; verify before the rename."""
    url = file_url(mirror, filename)
    verifier = _Verifier(filename.endswith(".gz"), sha256=bool(sha256_prefix))
    log.info("fetching %s", url)
    with _open_source(mirror, filename, timeout) as source, atomic_open(dest, "wb") as out:
        while chunk := source.read(CHUNK):
            verifier.update(chunk)
            out.write(chunk)
        try:
            verifier.check(md5, decompressed_md5, sha256_prefix)
        except DataError as exc:  # raised inside atomic_open, which then deletes the temp file: no partial file
            raise DataError(f"{filename} from {url}: {exc}") from None


def _verify_existing(path: Path, md5: str | None, decompressed_md5: str | None,
                     sha256_prefix: str | None = None) -> str | None:
    """Return None if ``path`` is complete and matches the checksums, else why it does not."""
    verifier = _Verifier(path.name.endswith(".gz"), sha256=bool(sha256_prefix))
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                verifier.update(chunk)
        verifier.check(md5, decompressed_md5, sha256_prefix)
    except (OSError, DataError) as exc:
        return str(exc)
    return None


def fetch(
    filename: str,
    mirrors: list[str],
    dest_dir: Path,
    md5: str | None = None,
    decompressed_md5: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    option: str = "datasets.<name>.mirrors",
    hint: str = "",
    sha256_prefix: str | None = None,
) -> Path:
    """Make ``dest_dir/filename`` a verified copy of ``filename`` from the first mirror that has it; return its path.

    ``md5`` is the checksum of the file as served, ``decompressed_md5`` that of a ``.gz`` file's content (verified
    instead of ``md5`` when given), ``sha256_prefix`` the leading hex digits of the file's SHA-256 (verified instead
    of both when given). A file already in ``dest_dir`` that verifies is used as is. ``option`` is the
    config key of the mirror list and ``hint`` an extra sentence, both for the error raised when every mirror fails.
    """
    dest_dir = Path(dest_dir)
    dest = dest_dir / filename
    if dest.is_file():
        problem = _verify_existing(dest, md5, decompressed_md5, sha256_prefix)
        if problem is None:
            return dest
        log.warning("cached %s is not usable (%s); fetching it again", dest, problem)  # replaced atomically below
    dest_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for mirror in mirrors:
        try:
            _download(filename, mirror, dest, md5, decompressed_md5, timeout, sha256_prefix)
            return dest
        except DataError as exc:
            failure = str(exc)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failure = f"{file_url(mirror, filename)}: {_describe(exc)}"
        log.warning("mirror failed: %s", failure)
        failures.append(failure)
    tried = "\n".join(f"  - {failure}" for failure in failures) or "  (no mirrors configured)"
    raise DataError(
        f"could not fetch {filename} into {dest_dir}; every mirror failed:\n{tried}\n"
        f"To use a local copy, set the `mirrors` option in the config ({option}) to a folder or a file://, "
        f"http:// or https:// base URL that holds {filename}, e.g. {option.rsplit('.', 1)[-1]}: "
        f"[\"file:///path/to/folder/\"]."
        + (f" {hint}" if hint else "")
    )

