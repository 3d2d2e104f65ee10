"""Turning a submission file's bytes into text, or a clear reason why not.

Order of attempts: a byte-order mark (UTF-8, UTF-16, UTF-32), strict UTF-8, UTF-16
without a BOM (recognised by its NUL bytes), then Windows-1252 and finally Latin-1
(which decodes anything) with a note, because a wrong guess can garble accented
letters. NUL bytes that are not UTF-16, or text that is mostly control characters,
mean the file is binary (a PDF, a Word file, an image, an archive renamed).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from grader.errors import IngestError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Magic numbers of formats students hand in by mistake, for a precise message.
_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or a Word/OpenOffice document)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-zip archive"),
)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    note: str = ""  # set when the encoding was a guess worth telling the instructor


def _binary_error(data: bytes, what: str = "") -> IngestError:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            what = name
            break
    desc = f"is {what}, not text" if what else "is a binary file, not text"
    return IngestError(
        desc,
        fix="hand in a text file (.ipynb, .py, .md or .txt); export documents as Markdown or "
            "plain text",
    )


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:20000]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return bad / len(sample)


def _looks_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the NULs sit where UTF-16 ASCII text puts them."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2]
    odd = sample[1::2]
    if odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def decode(data: bytes) -> Decoded:
    """Decode a file's bytes; raises :class:`IngestError` (message + fix) when it is not text."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise IngestError(
                    f"starts with a {enc.upper()} byte-order mark but is not valid {enc.upper()} "
                    f"(byte {exc.start})",
                    fix="open it in an editor and save it again as UTF-8",
                ) from exc
            return _checked(Decoded(text.lstrip("\ufeff"), enc), data)
    if b"\x00" in data:
        enc16 = _looks_utf16(data)
        if enc16:
            try:
                return _checked(Decoded(data.decode(enc16), enc16,
                                        note=f"read as {enc16.upper()} (no byte-order mark)"),
                                data)
            except UnicodeDecodeError:
                pass
        nuls = data.count(0)
        if nuls <= max(2, len(data) // 1000) and not data.startswith(tuple(m for m, _ in _MAGIC)):
            try:  # text with a stray NUL or two (a bad copy-paste): drop them
                text = data.replace(b"\x00", b"").decode("utf-8")
            except UnicodeDecodeError:
                raise _binary_error(data) from None
            return _checked(Decoded(text, "utf-8", note=f"holds {nuls} NUL byte(s); they were "
                                    "removed"), data)
        raise _binary_error(data)
    try:
        return _checked(Decoded(data.decode("utf-8"), "utf-8"), data)
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    for enc, name in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        return _checked(Decoded(
            text, enc,
            note=f"is not valid UTF-8 (first bad byte at offset {bad_at}); read it as {name}, "
                 "so accented letters or symbols may be wrong"), data)
    raise _binary_error(data)  # pragma: no cover - latin-1 decodes every byte


def _checked(dec: Decoded, data: bytes) -> Decoded:
    if _control_ratio(dec.text) > 0.05:
        raise _binary_error(data)
    return dec
