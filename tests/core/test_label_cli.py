"""``socialcrm labels`` as a user runs it: starter labels imported, trained, switched on, listed."""

from __future__ import annotations

from pathlib import Path

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
