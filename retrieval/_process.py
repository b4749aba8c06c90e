"""Per-process settings of retrieval: where derived model files are cached and how many
BLAS threads the encoders use. Library code reads no environment variable: the edge (the
command line, :meth:`polyrank.agent.Settings.load`) reads ``POLYRANK_CACHE_HOME``,
``XDG_CACHE_HOME`` and ``POLYRANK_BLAS_THREADS`` and calls :func:`configure`.

Usage::

    from polyrank.retrieval import ProcessSettings, configure
    configure(ProcessSettings(cache_home=Path("/tmp/polyrank-cache"), blas_threads=2))

They are per process because what they govern is: the encoders are loaded once per
process, and BLAS is capped when the first one loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessSettings", "configure", "process_settings"]

#: BLAS threads per process by default: a query's matrices are small; idle OpenBLAS
#: threads spun and starved the other model and Chroma on 2 cores (a one-query use-m3
#: encode took 0.8-1.1 s instead of 2 ms under load).
DEFAULT_BLAS_THREADS = 1


@dataclass(frozen=True)
class ProcessSettings:
    """``cache_home``: polyrank's per-user cache folder (``None``: ``~/.cache/polyrank``);
    ``blas_threads``: BLAS threads for the encoders."""

    cache_home: Path | None = None
    blas_threads: int = DEFAULT_BLAS_THREADS

    def __post_init__(self) -> None:
        if self.blas_threads < 1:
            from polyrank.retrieval.errors import ConfigError

            raise ConfigError(f"BLAS threads must be at least 1, got {self.blas_threads}")

    @property
    def cache_folder(self) -> Path:
        """The cache folder to use (the default resolved)."""
        return self.cache_home or Path.home() / ".cache" / "polyrank"


_current = ProcessSettings()


def configure(settings: ProcessSettings) -> None:
    """Use ``settings`` from now on in this process (encoders loaded earlier keep their
    BLAS cap)."""
    global _current
    _current = settings


def process_settings() -> ProcessSettings:
    """The settings in force."""
    return _current
