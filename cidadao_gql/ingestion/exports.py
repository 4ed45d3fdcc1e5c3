"""CSV exports as people hand them over: each file's encoding, delimiter and header are
settled, and the file refused whole if they cannot be, before any of its rows is read.

Public exports in Brazil come as UTF-8 (sometimes with a byte-order mark) or as
Windows-1252 / ISO-8859-1. Detection is a fixed order, not a guess. Strict UTF-8 first: a
Windows-1252 file with any accented letter is almost never valid UTF-8. Then Windows-1252,
which reads ISO-8859-1 text identically (the two differ only in 0x80-0x9F, control codes
in ISO-8859-1 that text does not hold) and which, unlike ISO-8859-1, refuses five byte
values, so it does not accept every byte string. ISO-8859-1 decodes anything: as the
fallback it would pass a binary file on as text instead of reporting it. A file that is
UTF-8 but for a few bytes (a row pasted from a Latin-1 system) is not Windows-1252: read so,
every accented letter of every other row would be garbled (`MÃ‰DICO`). It is UTF-8 with
damaged rows when its well-formed multi-byte UTF-8 characters outnumber its bytes that are
not UTF-8; each row holding such a byte is rejected with the byte named. A statistical
detector was tried and set aside: charset-normalizer 3.5.3 takes each sample file,
re-encoded as Windows-1252 or ISO-8859-1, for cp1250, which reads "Contratação" as
"Contrataçăo".
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cidadao_gql.errors import BadImportFile, ImportFailed, UndecodableFile
from cidadao_gql.ingestion.pncp import Row

UTF8, UTF8_BOM, WINDOWS_1252 = "utf-8", "utf-8-sig", "windows-1252"
# A row that has the wrong number of fields carries only this key, with the reason.
MALFORMED = "__malformed__"

_CHUNK = 1 << 16
# A header of this many characters without a line break is not a header: the file is not
# CSV, or not in the encoding it is read in (UTF-16 read as UTF-8 or the reverse).
_HEADER_LIMIT = 1 << 16
# The C0 controls other than NUL, TAB, LF, VT, FF, CR and the old DOS end-of-file mark
# (0x1A) never occur in CSV text; ISO-8859-1 and Windows-1252 would decode them anyway.
_NOT_TEXT = re.compile(rb"[\x01-\x08\x0e-\x19\x1b-\x1f]")
# NUL is told apart by how many there are: binary files and UTF-16 are full of them, while
# a stray NUL in a text file damages only its field, whose row is rejected (values.text).
_NUL_SHARE = 100  # a file whose first 64 KiB are more than 1 % NUL is not text
_DAMAGED = "surrogateescape"
_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, under _DAMAGED
_MULTIBYTE = re.compile("[\u0080-\ud7ff\ue000-\U0010ffff]")  # a well-formed character
_CONTAINERS = {b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive", b"%PDF": "a PDF"}


@dataclass(frozen=True, slots=True)
class CsvExport:
    """A file whose encoding, delimiter and header have been checked."""

    path: Path
    encoding: str
    detected: bool  # False when the caller named the encoding
    delimiter: str
    columns: tuple[str, ...]
    ends_with_line_break: bool
    # "replace" only for a UTF-8 file cut inside its last character: the detector checked
    # every byte before it, and the cut row is rejected for its missing fields.
    # "surrogateescape" for a UTF-8 file with a few bytes that are not: each is kept as a
    # lone surrogate, which rejects its row (_row).
    errors: str = "strict"

    def describe(self) -> str:
        how = "detected" if self.detected else "as given"
        if self.errors == _DAMAGED:
            how += "; rows holding bytes that are not UTF-8 are rejected"
        return f"{self.path.name}: {self.encoding} ({how}), delimiter {self.delimiter!r}"

    def rows(self) -> Iterator[tuple[int, Row]]:
        """Records numbered from 1 after the header; blank lines are skipped.

        `newline=""` hands line breaks inside quoted fields to the csv module untouched, so
        mixed CRLF and LF inside multi-line fields survive as written.
        """
        number = 0
        try:
            with self._open() as fh:
                reader = csv.reader(fh, delimiter=self.delimiter)
                next(reader, None)
                previous: tuple[int, list[str]] | None = None
                # One record of lookahead: only the last one can have been cut by truncation.
                for number, fields in enumerate(filter(None, reader), start=1):
                    if previous is not None:
                        yield self._row(*previous, last=False)
                    previous = (number, fields)
                if previous is not None:
                    yield self._row(*previous, last=True)
        except (UnicodeError, csv.Error, OSError) as exc:
            raise _unreadable(self.path, self.encoding, exc, f"record {number + 1}") from None

    def has_rows(self) -> bool:
        """Whether any record follows the header (blank lines are not records)."""
        try:
            with self._open() as fh:
                reader = csv.reader(fh, delimiter=self.delimiter)
                next(reader, None)
                return any(reader)
        except (UnicodeError, csv.Error, OSError) as exc:
            raise _unreadable(self.path, self.encoding, exc, "record 1") from None

    def _ends_inside_quotes(self) -> bool:
        """An odd number of quotes: the last quoted field was never closed (quotes inside
        one are doubled, so they do not change the count's parity)."""
        with self._open() as fh:
            return sum(chunk.count('"') for chunk in iter(lambda: fh.read(_CHUNK), "")) % 2 == 1

    def _open(self) -> TextIO:
        return self.path.open(newline="", encoding=self.encoding, errors=self.errors)

    def _row(self, number: int, fields: list[str], *, last: bool) -> tuple[int, Row]:
        width = len(self.columns)
        if fields and (fields[0].lstrip("\ufeff"), *fields[1:]) == self.columns:
            return number, {MALFORMED: "a repeated header line (were files concatenated?)"}
        if self.errors == _DAMAGED and (bad := _undecoded(self.columns, fields)):
            # Kept for the rejects file with each such byte as U+FFFD: JSON cannot hold it.
            shown = [f.encode(UTF8, _DAMAGED).decode(UTF8, "replace") for f in fields]
            return number, {MALFORMED: bad, **dict(zip(self.columns, shown, strict=False))}
        # A file cut inside a quoted field ends with a record whose fields may all be there,
        # the last one short: only an unclosed quote tells.
        unclosed = last and self._ends_inside_quotes()
        if len(fields) == width and not unclosed:
            return number, dict(zip(self.columns, fields, strict=True))
        reason = (
            f"expected {width} fields, got {len(fields)}"
            if len(fields) != width
            else "its last quoted field is never closed"
        )
        if last and (unclosed or not self.ends_with_line_break):
            reason += " (the file ends inside this record: is it truncated?)"
        # What was read goes to the rejects file with the reason, named as far as it goes.
        row: dict[str, object] = {
            MALFORMED: reason,
            **dict(zip(self.columns, fields, strict=False)),
        }
        if len(fields) > width:
            row["(extra fields)"] = fields[width:]
        return number, row


def _undecoded(columns: tuple[str, ...], fields: list[str]) -> str | None:
    """The reason for a row holding a byte that is not UTF-8, naming the byte and column."""
    for number, value in enumerate(fields):
        if found := _ESCAPED.search(value):
            byte = ord(found.group()) - 0xDC00
            column = columns[number] if number < len(columns) else f"field {number + 1}"
            return (
                f"{column}: byte 0x{byte:02x} is not UTF-8 (the rest of the file is):"
                f" fix the value and import again"
            )
    return None


def check_encoding(name: str) -> None:
    """ValueError unless `name` is a codec that decodes bytes to text (not rot13, base64)."""
    try:
        # What open() does: LookupError for an unknown name and for codecs not text.
        io.TextIOWrapper(io.BytesIO(), encoding=name)
    except LookupError:
        raise ValueError(f"unknown text encoding {name!r}") from None


def open_export(path: Path, required: Collection[str], encoding: str | None = None) -> CsvExport:
    """Settle a file's encoding (detected unless given), delimiter (`,`, `;`, tab) and header.

    Raises UndecodableFile when the file is not text in any encoding tried, or not in the
    one given; BadImportFile when it is empty, unreadable as CSV or lacks a column in
    `required`.
    """
    errors, detected = "strict", encoding is None
    if encoding is not None:
        try:
            check_encoding(encoding)
        except ValueError as exc:
            raise BadImportFile(f"{path}: {exc}; name a text encoding such as latin-1") from None
        _refuse_bom_mismatch(path, encoding)
    try:
        if encoding is None:
            encoding, errors = detect_encoding(path)
        with path.open(newline="", encoding=encoding, errors=errors) as fh:
            header = fh.readline(_HEADER_LIMIT)
        ends_with_line_break = _ends_with_line_break(path)
        if len(header) == _HEADER_LIMIT and not header.endswith(("\n", "\r")):
            raise csv.Error(f"no line break in its first {_HEADER_LIMIT:,} characters")
        if not header.strip():
            raise BadImportFile(f"{path} is empty: expected a header row naming its columns")
        delimiter = sniff_delimiter(header)
        names = next(csv.reader([header], delimiter=delimiter))
    except (UnicodeError, csv.Error, OSError) as exc:
        raise _unreadable(path, encoding, exc, "the header") from None
    # A byte-order mark read as text (--encoding utf-8 on a utf-8-sig file) is not a name.
    columns = (names[0].lstrip("\ufeff"), *names[1:])
    _check_header(path, columns, required, delimiter)
    return CsvExport(path, encoding, detected, delimiter, columns, ends_with_line_break, errors)


def _check_header(
    path: Path, columns: tuple[str, ...], required: Collection[str], delimiter: str
) -> None:
    """BadImportFile for a column named twice (which of the two would a row take?) or a
    required one missing; a name that differs only by case or spaces is pointed at."""
    twice = [name for name, count in Counter(columns).items() if count > 1]
    if twice:
        raise BadImportFile(
            f"{path} names the column(s) {', '.join(twice)} more than once; nothing was imported"
        )
    missing = [name for name in required if name not in columns]
    if not missing:
        return
    loose = {name.strip().casefold(): name for name in columns}
    named = [
        f"{name} (the header has {loose[key]!r}: names match exactly, case and spaces too)"
        if (key := name.casefold()) in loose
        else name
        for name in missing
    ]
    # A header of one column, or fewer than the required ones, is not the header at all.
    preamble = (
        f"; the first line is not the header (it has {len(columns)} column"
        f"{'' if len(columns) == 1 else 's'}): remove preamble lines"
        if len(columns) == 1 or len(columns) < len(required)
        else ""
    )
    raise BadImportFile(
        f"{path} lacks the required column(s) {', '.join(named)}"
        f" (its header has {len(columns)} columns delimited by {delimiter!r});"
        f" nothing was imported{preamble}"
    )


def _refuse_bom_mismatch(path: Path, encoding: str) -> None:
    """A UTF-8 byte-order mark read in another encoding would garble the first name."""
    with path.open("rb") as fh:
        starts_with_bom = fh.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    if starts_with_bom and codecs.lookup(encoding).name not in (UTF8, UTF8_BOM):
        raise UndecodableFile(
            f"{path} starts with a UTF-8 byte-order mark, so it is UTF-8, not {encoding}:"
            " leave out --encoding (or name utf-8-sig)"
        )


def _unreadable(path: Path, encoding: str | None, exc: Exception, where: str) -> ImportFailed:
    """One line for a file that cannot be read past `where`: it names the file and says
    what to do."""
    if isinstance(exc, OSError):
        return BadImportFile(f"cannot read {path}: {exc.strerror or exc}")
    if isinstance(exc, UnicodeError):
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        near = "" if where == "the header" else f" near {where}"
        return UndecodableFile(
            f"{path} is not {encoding}{near} ({reason}); name the file's encoding with --encoding"
        )
    return BadImportFile(
        f"{path}: cannot read {where} as CSV ({exc}); check its quoting, or, if it is not"
        f" {encoding}, name the file's encoding with --encoding"
    )


def detect_encoding(path: Path) -> tuple[str, str]:
    """UTF-8 (with or without a byte-order mark) or Windows-1252, and the decoding errors
    mode the file is read with: "strict"; "replace" when it ends inside a UTF-8 character
    (cut short); "surrogateescape" when it is UTF-8 but for a few bytes. Refuses binary
    files and anything else."""
    with path.open("rb") as fh:
        head = fh.read(_CHUNK)
    _refuse_binary(path, head)
    utf8 = _scan(path, UTF8)
    name = UTF8_BOM if head.startswith(codecs.BOM_UTF8) else UTF8
    if utf8.ok:
        return name, "replace" if utf8.cut else "strict"
    if _mostly_utf8(path):
        return name, _DAMAGED
    windows = _scan(path, WINDOWS_1252)
    if windows.ok:
        return WINDOWS_1252, "strict"
    raise UndecodableFile(
        f"{path} is neither UTF-8 (byte 0x{utf8.byte:02x} at offset {utf8.offset}) nor"
        f" Windows-1252 (byte 0x{windows.byte:02x} at offset {windows.offset});"
        " name the file's encoding with --encoding"
    )


@dataclass(frozen=True, slots=True)
class _Scan:
    ok: bool
    cut: bool = False
    offset: int = 0
    byte: int = 0


def _scan(path: Path, encoding: str) -> _Scan:
    """Decode the whole file strictly, a chunk at a time, keeping none of the text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            # The bytes of a character split between chunks, which the decoder holds.
            held = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the held bytes followed by this chunk.
                start = offset - held + exc.start
                return _Scan(False, offset=start, byte=exc.object[exc.start])
            offset += len(chunk)
    # Bytes still buffered at the end are the start of a character the file never finished.
    return _Scan(True, cut=bool(decoder.getstate()[0]))


def _mostly_utf8(path: Path) -> bool:
    """Whether well-formed multi-byte UTF-8 characters outnumber the bytes that are not
    UTF-8. Windows-1252 text rarely holds even one such character by chance: an accented
    letter followed by a symbol from 0x80-0xBF (`Ã©`)."""
    decoder = codecs.getincrementaldecoder(UTF8)(errors=_DAMAGED)
    good = bad = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            text = decoder.decode(chunk)
            bad += len(_ESCAPED.findall(text))
            good += len(_MULTIBYTE.findall(text))
    return good > bad


def _refuse_binary(path: Path, head: bytes) -> None:
    for magic, kind in _CONTAINERS.items():
        if head.startswith(magic):
            raise UndecodableFile(f"{path} is {kind}, not CSV text: extract the CSV first")
    control = _NOT_TEXT.search(head)
    if control or head.count(0) * _NUL_SHARE > len(head):
        first = [i for i in (head.find(0), control.start() if control else -1) if i >= 0]
        offset = min(first)
        raise UndecodableFile(
            f"{path} is not text (byte 0x{head[offset]:02x} at offset {offset});"
            " if it is UTF-16 or another multi-byte encoding, name it with --encoding"
        )


def sniff_delimiter(header: str) -> str:
    """`,`, `;` or a tab, read off the header row; `,` when the header has a single column."""
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _ends_with_line_break(path: Path) -> bool:
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            return False
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")
