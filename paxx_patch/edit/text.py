"""Text files as users write them: UTF-8 with or without a BOM, LF or CRLF.

Mutators work on `str` with LF line ends; `TextFile` remembers the original
BOM and newline so the bytes written back keep the file's own conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

from paxx_patch.runtime.errors import PaxxError

BOM = "\ufeff"


@dataclass(frozen=True)
class TextFile:
    path: str
    text: str  # LF line ends, no BOM
    bom: bool
    newline: str

    @classmethod
    def decode(cls, path: str, raw: bytes | None) -> TextFile:
        if raw is None:
            return cls(path, "", False, "\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PaxxError(f"{path}: not UTF-8 text ({e}). Save it as UTF-8.") from e
        bom = text.startswith(BOM)
        text = text.removeprefix(BOM)
        newline = "\r\n" if "\r\n" in text else "\n"
        return cls(path, text.replace("\r\n", "\n"), bom, newline)

    def encode(self, text: str) -> bytes:
        return ((BOM if self.bom else "") + text.replace("\n", self.newline)).encode("utf-8")

    def append_block(self, block: str) -> bytes:
        """The file with `block` appended, separated by one blank line."""
        text = self.text
        if text and not text.endswith("\n"):
            text += "\n"
        if text.strip():
            text += "\n" if not text.endswith("\n\n") else ""
        return self.encode(text + block)
