"""What an import says about a file it refuses, or about the lines it leaves out."""

from __future__ import annotations

from dataclasses import dataclass

from collection import payloads


class ImportFileError(ValueError):
    """A file that cannot be imported (nothing was stored), or one bad row of it.

    ``unit`` is what the number counts: file lines for text formats, rows for
    Parquet and Arrow files.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        status: int = 400,
        unit: str = "Line",
    ):
        where = f"{unit} {line}: " if line else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")
        self.line = line
        self.field = field
        self.message = message
        self.status = status
        self.unit = unit
        self.rejected: list[Rejected] = []  # a keep-valid import that kept nothing


def size_limit_message(limit: int) -> str:
    return f"The file is larger than the import limit of {limit:,} bytes ({limit / 2**20:.0f} MiB)."


def row_error(error: payloads.PayloadError, number: int, unit: str = "Line") -> ImportFileError:
    return ImportFileError(error.message, line=number, field=error.field, unit=unit)


@dataclass(frozen=True)
class Rejected:
    """One line left out by a keep-valid import, and why."""

    line: int
    field: str | None
    message: str
    unit: str = "Line"

    @classmethod
    def of(cls, error: ImportFileError) -> Rejected:
        return cls(line=error.line or 0, field=error.field, message=error.message, unit=error.unit)

    def __str__(self) -> str:
        what = f"{self.field}: " if self.field else ""
        return f"{self.unit} {self.line}: {what}{self.message}"
