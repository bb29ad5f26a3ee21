"""The on-disk result cache: a file's findings and summary, reused while its bytes, the headers it read,
kalloclint, the model and the run's settings are unchanged. Entries are written atomically; a bad entry
is a miss, never an error."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field

from kalloclint import __version__

DEFAULT_DIR = ".kalloclint_cache"
_FORMAT = b"kalloclint-cache-3"  # changes when the pickled per-file result changes shape


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


@dataclass(slots=True)
class Cache:
    """Cached per-file results under `directory`, for one run configuration (`salt`)."""

    directory: str
    salt: str
    _header_digests: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def for_run(cls, directory: str, model_digest: str, settings_key: str) -> Cache:
        salt = digest(b"\0".join(s.encode() for s in (_FORMAT.decode(), __version__, model_digest, settings_key)))
        return cls(directory, salt)

    def key(self, path: str, data: bytes) -> str:
        return digest(self.salt.encode() + b"\0" + path.encode("utf-8", "surrogateescape") + b"\0" + data)

    def _file(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".pkl")

    def header_digest(self, path: str) -> str | None:
        """The digest of a header's bytes (None when it cannot be read), once per process."""
        if path not in self._header_digests:
            try:
                with open(path, "rb") as fh:
                    self._header_digests[path] = digest(fh.read())
            except OSError:
                self._header_digests[path] = None
        return self._header_digests[path]

    def load(self, key: str):
        """The stored result for `key`, if present, intact, and its headers are unchanged."""
        try:
            with open(self._file(key), "rb") as fh:
                if fh.read(len(_FORMAT)) != _FORMAT:
                    return None
                headers, result = pickle.load(fh)
        except Exception:  # missing, truncated or corrupt: recompute
            return None
        if any(self.header_digest(p) != d for p, d in headers):
            return None
        return result

    def store(self, key: str, headers: list[str], result) -> None:
        """Write an entry atomically (temp file + rename), so concurrent runs never see half of one."""
        target = self._file(key)
        try:
            if not os.path.isdir(self.directory):
                os.makedirs(self.directory, exist_ok=True)
                with open(os.path.join(self.directory, ".gitignore"), "w") as fh:
                    fh.write("# written by kalloclint: its cache is not for version control\n*\n")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            deps = [(p, self.header_digest(p)) for p in headers]
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
        except OSError:
            return  # a read-only or full disk only costs the next run its speed-up
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_FORMAT)
                pickle.dump((deps, result), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
