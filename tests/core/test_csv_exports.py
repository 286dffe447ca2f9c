"""CSV exports for spreadsheets: a UTF-8 byte order mark and ';' for German Excel, the export fields unchanged."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from socialcrm.db import Database
from socialcrm.services.exports import MENTION_FIELDS
from tests.core.test_cli import run
from tests.web.seed import add_customer, add_mention

BOM = b"\xef\xbb\xbf"
TEXT = "Größe passt nicht; Rücksendung?\nBitte melden."


def _setup(tmp_path: Path, language: str) -> None:
    (tmp_path / "socialcrm.toml").write_text(
        f'[database]\nurl = "sqlite:///crm.db"\n[web]\nenabled = false\ndefault_language = "{language}"\n'
        '[classifier]\nkind = "lexicon"\n'
    )
    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    db.upgrade()
    with db.write() as s:
        customer = add_customer(s, "Jürgen Weiß", ref="K-4711")
        add_mention(s, TEXT, customer=customer)
        add_mention(s, '=HYPERLINK("http://evil")', author="mallory")
    db.dispose()


async def _export(tmp_path: Path, *options: str) -> bytes:
    code, _, err = await run(tmp_path, "export", "mentions", "--format", "csv", "--output", "out.csv", *options)
    assert code == 0, err
    return (tmp_path / "out.csv").read_bytes()


async def test_excel_export_for_german_users(tmp_path: Path) -> None:
    _setup(tmp_path, "de")
    plain = await _export(tmp_path)
    assert not plain.startswith(BOM) and plain.split(b"\n")[0] == ",".join(MENTION_FIELDS).encode()
    excel = await _export(tmp_path, "--excel")
    assert excel.startswith(BOM) and excel.split(b"\n")[0] == BOM + ";".join(MENTION_FIELDS).encode()
    rows = list(csv.DictReader(io.StringIO(excel.decode("utf-8-sig")), delimiter=";"))
    by_plain = list(csv.DictReader(io.StringIO(plain.decode("utf-8"))))
    assert rows == by_plain  # the same fields and values, only written for Excel
    assert [r["text"] for r in rows] == [TEXT, '\'=HYPERLINK("http://evil")']
    assert rows[0]["customer_ref"] == "K-4711" and rows[0]["published_at"].endswith("Z")
    tab = await _export(tmp_path, "--delimiter", "tab", "--bom")
    assert tab.startswith(BOM) and list(csv.DictReader(io.StringIO(tab.decode("utf-8-sig")), delimiter="\t")) == rows
    code, _, err = await run(tmp_path, "export", "mentions", "--format", "jsonl", "--excel")
    assert code == 2 and "--format csv" in err


async def test_excel_export_in_english_keeps_the_comma(tmp_path: Path) -> None:
    _setup(tmp_path, "en")
    excel = await _export(tmp_path, "--excel")
    assert excel.split(b"\n")[0] == BOM + ",".join(MENTION_FIELDS).encode()
    semicolon = await _export(tmp_path, "--excel", "--delimiter", ";")
    assert semicolon.split(b"\n")[0] == BOM + ";".join(MENTION_FIELDS).encode()
