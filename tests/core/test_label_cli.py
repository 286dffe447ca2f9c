"""``socialcrm labels`` as a user runs it: starter labels imported, trained, switched on, listed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from socialcrm.db import Database
from socialcrm.models import CustomLabel
from tests.core.test_cli import run

CONFIG = '[database]\nurl = "sqlite:///crm.db"\n[web]\nenabled = false\n[classifier]\nkind = "lexicon"\n'


async def test_starter_labels_from_import_to_switched_on(tmp_path: Path) -> None:
    (tmp_path / "socialcrm.toml").write_text(CONFIG)
    code, out, err = await run(tmp_path, "labels", "import", "--starter")
    assert code == 0, err
    assert "churn: added 22 examples and 22 counter-examples" in out
    code, _, err = await run(tmp_path, "labels", "on", "churn")
    assert code == 1 and "not trained yet" in err
    code, out, err = await run(tmp_path, "labels", "train")
    assert code == 0, err
    assert "5-fold cross-validation on 22 examples and 22 counter-examples; features: words" in out
    code, out, err = await run(tmp_path, "labels", "on", "churn", "purchase-intent")
    assert code == 0, err
    code, out, _ = await run(tmp_path, "labels", "list")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:3]}
    assert rows == {"churn": "on", "purchase-intent": "on"}
    code, _, err = await run(tmp_path, "labels", "mark", "churn", "999")
    assert code == 1 and "no mention with id 999" in err
    code, _, err = await run(tmp_path, "labels", "define", "Bug Report")
    assert code == 2 and "label name" in err


LABEL_RULES = """
[[rules]]
name = "churn-ticket"
[rules.when]
label = ["churn", "cancel-intent"]
[[rules.then]]
action = "open_ticket"
[[rules]]
name = "lead-draft"
[rules.when]
label = ["purchase-intent"]
[[rules.then]]
action = "tag"
tags = ["lead"]
[[rules]]
name = "old-rule"
enabled = false
[rules.when]
label = ["gone"]
[[rules.then]]
action = "tag"
tags = ["x"]
"""


async def test_check_config_warns_about_labels_rules_name_that_match_nothing(tmp_path: Path) -> None:
    """The daemon's start-up warning, before the daemon runs: the rule and the label, as a warning (exit 0)."""
    (tmp_path / "socialcrm.toml").write_text(CONFIG + LABEL_RULES)
    code, out, err = await run(tmp_path, "check-config")
    assert code == 0 and "OK" in out, err
    assert f"the labels that rules name were not checked: the database {tmp_path / 'crm.db'} does not exist yet" in err
    assert not (tmp_path / "crm.db").exists()  # checking created nothing

    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    with db.write() as session:  # a database of another program, or before `socialcrm db upgrade`
        session.execute(text("CREATE TABLE other (id INTEGER)"))
    code, _, err = await run(tmp_path, "check-config")
    assert code == 0 and "the labels that rules name were not checked" in err and "`socialcrm db upgrade`" in err, err
    db.upgrade()
    with db.write() as session:
        session.add(CustomLabel(name="churn", enabled=True, head=b"\0" * 8, features="words-v1"))
        session.add(CustomLabel(name="purchase-intent", enabled=False))
    db.dispose()
    code, out, err = await run(tmp_path, "check-config")
    assert code == 0 and "OK" in out, err
    warnings = sorted(line for line in err.splitlines() if line.startswith("warning: "))
    assert warnings == [
        "warning: rule 'churn-ticket' names the label 'cancel-intent', which is not defined: it matches nothing",
        "warning: rule 'lead-draft' names the label 'purchase-intent', which is switched off: it matches nothing",
    ]

    # A server that cannot be reached: said, and the config is still OK.
    (tmp_path / "socialcrm.toml").write_text(
        CONFIG.replace("sqlite:///crm.db", "postgresql+psycopg://nobody:secret@127.0.0.1:1/crm") + LABEL_RULES
    )
    code, out, err = await run(tmp_path, "check-config")
    assert code == 0 and "OK" in out, err
    assert "the labels that rules name were not checked: cannot read the database" in err and "secret" not in err
