"""Reading input files with a bound on their size (a profile, a suite or a catalogue
line named ``/dev/zero`` grew the process to 6-12 GB)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MAX_CATALOG_LINE_BYTES", "MAX_DOCUMENT_BYTES", "TooLarge", "read_bounded"]

#: Largest profile or suite file read. The shipped core suite is 31 KB, a sample profile
#: under 1 KB; a profile with 20,000 history events is about 2 MB.
MAX_DOCUMENT_BYTES = 16 * 2**20
#: Longest catalogue line read (bytes). The sample catalogue's longest is 483 bytes; items
#: with 5-50 MB descriptions are accepted (the encoders cut them), so the bound is wide.
MAX_CATALOG_LINE_BYTES = 64 * 2**20


class TooLarge(ValueError):
    """A file or line longer than its bound."""


def read_bounded(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of ``path``, reading at most ``limit`` of them.

    Raises:
        TooLarge: the file holds more (nothing past ``limit`` + 1 bytes was read).
        OSError: it cannot be read.
    """
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"larger than {_size(limit)}; not read")
    return data


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit} bytes"
