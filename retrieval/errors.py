"""The polyrank error tree.

Every error polyrank raises on purpose derives from :class:`PolyrankError`. Two families
tell the caller whether the fault is theirs (fix the input) or the system's (a retry may
help)::

    PolyrankError
    ├── UserError            the caller's mistake; retrying the same call cannot help
    │   ├── ConfigError      bad spec string, option, path or environment variable
    │   ├── CatalogError     bad catalogue file (every bad line: file, line, field, reason)
    │   └── ProfileError     bad user profile file
    └── RuntimeFault         something failed at run time; ``retryable`` says if a retry can help
        ├── LLMError         the LLM backend failed (transport, HTTP status, timeout)
        ├── RetrievalError   the vector store failed or is unreachable
        └── OutputError      the model answered, but not in a usable shape

SDK exceptions are converted at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "ConfigError",
    "LLMError",
    "LineProblem",
    "OutputError",
    "PolyrankError",
    "ProfileError",
    "RetrievalError",
    "RuntimeFault",
    "UserError",
]


class PolyrankError(Exception):
    """Root of every error polyrank raises on purpose.

    Attributes:
        retryable: whether repeating the same call can succeed.
        hint: one line telling the user what to do next.
    """

    retryable: bool = False
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class UserError(PolyrankError):
    """The caller's mistake: fix the input; retrying cannot help."""


class ConfigError(UserError):
    """A bad spec string, option, path or environment variable."""

    hint = "check the spec string or option named above (`polyrank --help` lists them)"


@dataclass(frozen=True)
class LineProblem:
    """One problem in one line of an input file."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class CatalogError(UserError):
    """A catalogue file that cannot be ingested; lists every bad line."""

    hint = "fix the lines listed above; nothing was written to the store"

    def __init__(self, path: str, problems: list[LineProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        shown = "\n".join(f"  {path}:{p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        if more > 0:
            shown += f"\n  … and {more} more"
        lines = len({p.line for p in self.problems})
        count = f"{lines} bad line{'s' if lines != 1 else ''}"
        if len(self.problems) > lines:
            count += f" ({len(self.problems)} problems)"
        super().__init__(f"{path}: {count}\n{shown}")


class ProfileError(UserError):
    """A user profile that cannot be read or does not validate."""

    hint = "see the profile format under 'Catalogue format' in the README, and the sample users"


class RuntimeFault(PolyrankError):
    """Something failed at run time; ``retryable`` tells whether a retry can help."""

    retryable = True


class LLMError(RuntimeFault):
    """The LLM backend failed: transport error, HTTP status or timeout."""

    hint = "check the model server and its base URL; the local ranker answers meanwhile"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.retry_after = retry_after
        self.retries = 0  # transport retries made before giving up


class RetrievalError(RuntimeFault):
    """The vector store failed or cannot be reached."""

    hint = "check the --store path or the Chroma server address"


#: The hint of a RetrievalError that rebuilding the store's index fixes.
REPAIR_HINT = "run `polyrank ingest --repair` (add --store PATH) to re-index the store"


class OutputError(RuntimeFault):
    """The model answered, but the answer could not be used."""

    hint = "the agent re-asks with the error; persistent failures fall back to the local ranker"
