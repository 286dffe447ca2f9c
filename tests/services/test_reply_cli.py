"""``socialcrm replies``: import a TOML file of saved replies (all or nothing), list them, export them back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from socialcrm.cli import main
from socialcrm.db import Database
from socialcrm.models import SavedReply

GOOD = """
[lieferung]
title = "Lieferung unterwegs"
de = "Hallo {{ customer_name }}, Ihre Bestellung {{ order_number }} ist unterwegs."
en = "Hi {{ customer_name }}, your order {{ order_number }} is on its way.\\nBest, {{ agent_name }}"

[danke]
de = "Danke, \\"{{ customer_name }}\\"!"
"""


@pytest.fixture
def cli(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "socialcrm.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")

    def run(*args: str) -> int:
        return main(["--config", str(config), *args])

    return run


def test_import_list_export_and_import_again(cli, capsys, tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "replies.toml"
    source.write_text(GOOD, encoding="utf-8")
    assert cli("replies", "import", str(source), "--dry-run") == 0
    assert "would import 3 (3 new, 0 changed)" in capsys.readouterr().out
    assert cli("replies", "list") == 0
    assert capsys.readouterr().out == "no saved replies\n"
    assert cli("replies", "import", str(source)) == 0
    assert "imported 3 (3 new, 0 changed)" in capsys.readouterr().out
    assert cli("replies", "list", "--language", "de") == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == [
        '/danke [de] danke: Danke, "{{ customer_name }}"!',
        "/lieferung [de] Lieferung unterwegs: Hallo {{ customer_name }}, Ihre Bestellung {{ order_number }} ist "
        "unterwegs.",
    ]
    exported = tmp_path / "export.toml"
    assert cli("replies", "export", "--output", str(exported)) == 0
    assert cli("replies", "import", str(exported)) == 0
    assert "imported 3 (0 new, 0 changed)" in capsys.readouterr().out, "an export reads back unchanged"
    db = Database(database_url)
    with db.read() as s:
        texts = {(r.key, r.language): r.text for r in s.exec(select(SavedReply))}
    db.dispose()
    assert (
        texts[("lieferung", "en")]
        == "Hi {{ customer_name }}, your order {{ order_number }} is on its way.\nBest, {{ agent_name }}"
    )


def test_a_bad_entry_changes_nothing_and_says_where(cli, capsys, tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "replies.toml"
    source.write_text(GOOD + '\n[kaputt]\nde = "Hallo {{ kunde }}"\n', encoding="utf-8")
    assert cli("replies", "import", str(source)) == 2
    err = capsys.readouterr().err
    assert "reply 4 (/kaputt de): text: unknown variable 'kunde'" in err
    source.write_text('[x]\nfr = "Merci"\n', encoding="utf-8")
    assert cli("replies", "import", str(source)) == 2
    assert "x: unknown key 'fr' (allowed: title, en, de)" in capsys.readouterr().err
    db = Database(database_url)
    with db.read() as s:
        assert s.exec(select(SavedReply)).all() == []
    db.dispose()


def test_the_demos_saved_replies_are_valid_in_both_languages() -> None:
    from socialcrm.cli.demo_cmds import DEMO_DATA
    from socialcrm.cli.reply_cmds import read_file
    from socialcrm.services.saved_replies import validate

    rows = [validate(row) for row in read_file(str(DEMO_DATA / "saved-replies.toml"))]
    assert sorted({(r.key, r.language) for r in rows}) == [
        (key, language) for key in ("danke", "entkalken", "lieferung", "ticket") for language in ("de", "en")
    ]
