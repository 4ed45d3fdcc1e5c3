"""Opening CSV exports: encoding, delimiter and header, settled before any row is read."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from cidadao_gql.errors import BadImportFile, UndecodableFile
from cidadao_gql.ingestion.exports import MALFORMED, detect_encoding, open_export
from cidadao_gql.ingestion.importer import REQUIRED_COLUMNS
from tests.damaged_exports import (
    latin1_safe,
    not_text,
    redelimit,
    reencode,
    sample_text,
    truncated,
    without_column,
)

PROCUREMENTS = REQUIRED_COLUMNS["contratacoes"]


def test_each_encoding_is_detected_and_reads_the_same_text(tmp_path: Path) -> None:
    name = "contratacoes.csv"
    utf8 = reencode(tmp_path / "utf8", "utf-8") / name
    cp1252 = reencode(tmp_path / "cp1252", "cp1252") / name
    latin1 = reencode(tmp_path / "latin1", "latin-1", latin1_safe) / name
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + utf8.read_bytes())

    assert detect_encoding(utf8) == ("utf-8", "strict")
    assert detect_encoding(bom) == ("utf-8-sig", "strict")
    # ISO-8859-1 text reads the same as Windows-1252, so one name serves both.
    assert detect_encoding(cp1252) == ("windows-1252", "strict")
    assert detect_encoding(latin1) == ("windows-1252", "strict")
    original = list(open_export(utf8, PROCUREMENTS).rows())
    assert list(open_export(cp1252, PROCUREMENTS).rows()) == original
    assert list(open_export(bom, PROCUREMENTS).rows()) == original
    assert open_export(bom, PROCUREMENTS).columns == open_export(utf8, PROCUREMENTS).columns
    latin1_rows = list(open_export(latin1, PROCUREMENTS).rows())
    assert latin1_rows == list(open_export(latin1, PROCUREMENTS, "latin-1").rows())
    assert len(latin1_rows) == 500
    assert "Contratação" in str(latin1_rows)


def test_semicolons_are_sniffed(tmp_path: Path) -> None:
    directory = redelimit(tmp_path, ";")
    for name, required in zip(
        ("contratacoes.csv", "itens_medicamentos.csv", "resultados.csv"),
        REQUIRED_COLUMNS.values(),
        strict=True,
    ):
        export = open_export(directory / name, required)
        assert export.delimiter == ";"
        assert export.describe() == f"{name}: utf-8 (detected), delimiter ';'"
        assert all(MALFORMED not in row for _, row in export.rows())


def test_a_missing_column_refuses_the_file_before_any_row(tmp_path: Path) -> None:
    directory = without_column(tmp_path, "contratacoes.csv", "data.numeroControlePNCP")
    with pytest.raises(BadImportFile) as caught:
        open_export(directory / "contratacoes.csv", PROCUREMENTS)
    message = str(caught.value)
    assert "contratacoes.csv" in message and "data.numeroControlePNCP" in message
    assert "58 columns delimited by ','" in message
    assert caught.value.code == "IMPORT_BAD_FILE"


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "contratacoes.csv"
    empty.write_bytes(b"")
    with pytest.raises(BadImportFile, match=r"contratacoes\.csv is empty"):
        open_export(empty, PROCUREMENTS)


def test_a_file_cut_inside_a_character_is_still_utf8(tmp_path: Path) -> None:
    """Cut mid-character, the bytes are not valid UTF-8; read as Windows-1252 every accented
    letter before the cut would be garbled. The cut row is rejected, with a hint."""
    path = truncated(tmp_path, "contratacoes.csv", 30_000) / "contratacoes.csv"
    assert detect_encoding(path) == ("utf-8", "replace")
    rows = list(open_export(path, PROCUREMENTS).rows())
    complete = rows[:-1]
    assert all(MALFORMED not in row for _, row in complete)
    last_number, last = rows[-1]
    assert last_number == len(rows)
    assert str(last[MALFORMED]).startswith("expected 59 fields, got ")
    assert str(last[MALFORMED]).endswith("(the file ends inside this record: is it truncated?)")
    assert "Contratação" in str(complete)


def test_a_short_row_in_the_middle_is_not_called_truncated(tmp_path: Path) -> None:
    path = tmp_path / "resultados.csv"
    header, rest = sample_text("resultados.csv").split("\r\n", 1)
    path.write_bytes(f'{header}\r\n"a","b"\r\n{rest}'.encode())
    export = open_export(path, REQUIRED_COLUMNS["resultados"])
    rows = list(export.rows())
    assert len(rows) == 82
    assert rows[0] == (
        1,
        {MALFORMED: "expected 39 fields, got 2", export.columns[0]: "a", export.columns[1]: "b"},
    )
    assert all(MALFORMED not in row for _, row in rows[1:])


@pytest.mark.parametrize(
    ("kind", "says"),
    [("gzip", "is gzip-compressed, not CSV text"), ("random", "is not text (byte 0x")],
)
def test_what_is_not_text_is_refused(tmp_path: Path, kind: str, says: str) -> None:
    path = not_text(tmp_path, kind) / "resultados.csv"
    with pytest.raises(UndecodableFile) as caught:
        open_export(path, REQUIRED_COLUMNS["resultados"])
    assert str(caught.value).startswith(f"{path} {says}")


def test_neither_utf8_nor_windows_1252_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "resultados.csv"
    path.write_bytes(b"a,b\r\n\xe7\x81\r\n")  # 0x81 is undefined in Windows-1252
    with pytest.raises(UndecodableFile) as caught:
        detect_encoding(path)
    assert str(caught.value) == (
        f"{path} is neither UTF-8 (byte 0xe7 at offset 5) nor Windows-1252 (byte 0x81 at offset 6);"
        " name the file's encoding with --encoding"
    )


def test_a_wrong_encoding_given_is_reported(tmp_path: Path) -> None:
    path = reencode(tmp_path, "cp1252") / "itens_medicamentos.csv"
    with pytest.raises(UndecodableFile) as caught:
        list(open_export(path, REQUIRED_COLUMNS["itens"], "utf-8").rows())
    assert str(caught.value).startswith(f"{path} is not utf-8 ")
    assert str(caught.value).endswith("name the file's encoding with --encoding")


def test_a_wrong_encoding_far_into_a_file_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(("a,b\r\n" + "x,y\r\n" * 20_000 + "ç,z\r\n").encode("cp1252"))
    export = open_export(path, ("a", "b"), "utf-8")
    assert export.describe() == "big.csv: utf-8 (as given), delimiter ','"
    with pytest.raises(UndecodableFile, match=r"big.csv is not utf-8 near record \d+ "):
        list(export.rows())
