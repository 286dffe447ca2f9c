"""Every row of an import file is imported or reported with its line (issue 11, item 5): quotes, NUL bytes, counts."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import func, select

from socialcrm.models import ContactPoint, Customer, Order
from socialcrm.services.imports import import_customers, import_orders
from socialcrm.services.imports.csvfile import read_table

DATA = Path(__file__).resolve().parent.parent / "data" / "crm"


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _names(session) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {c.customer_ref: c.name for c in session.exec(select(Customer))}


def test_an_unbalanced_quote_costs_its_own_line_only(db) -> None:
    """The first release read K-6002's open quote on through K-6003 and stored K-6011 silently: 9 of 11."""
    with db.write() as session:
        report = import_customers(session, _read("customers_quotes.csv"), name="quotes.csv")
    problems = {e.line: e.reason for e in report.rejected}
    assert sorted(problems) == [3, 13]
    assert problems[3].startswith("unbalanced quote: a quote opened on this line is not closed")
    assert problems[13] == "unbalanced quote: a quote opened on this line is never closed"
    assert (report.rows, report.created, report.rows_imported) == (11, 9, 9)
    with db.read() as session:
        names = _names(session)
        carla = session.exec(select(Customer).where(Customer.customer_ref == "K-6003")).one()
        emails = session.exec(select(ContactPoint.value).where(ContactPoint.customer_id == carla.id)).all()
    assert emails == ["carla@example.de"]
    assert names == {
        "K-6001": "Anna Alt",
        "K-6003": "Carla Christ",  # the row the open quote would have swallowed
        "K-6004": 'Dora "Dee" Dorn',
        "K-6005": 'Emil "Ede" Engel',
        "K-6006": "Frieda Fuchs jun.",
        "K-6007": "Gustav Graf",
        "K-6008": "Hanna\nHahn",  # a quoted value over two lines is still one row
        "K-6009": 'Ida "Iggy',
        "K-6010": "Jan Jung",
    }


def test_nul_bytes_reject_their_rows_and_nothing_else(db) -> None:
    """PostgreSQL cannot store NUL: the first release aborted the whole import there with a traceback."""
    with db.write() as session:
        report = import_customers(session, _read("customers_nul.csv"), name="nul.csv")
    assert [(e.line, e.reason.split(":")[0]) for e in report.rejected] == [
        (2, "name contains a NUL byte (0x00)"),
        (4, "company contains a NUL byte (0x00)"),
    ]
    assert (report.rows, report.created) == (4, 2)
    with db.read() as session:
        assert sorted(_names(session)) == ["K-7002", "K-7004"]


def test_order_rows_add_up_quotes_nul_and_an_unknown_customer_on_two_line_items(db) -> None:
    with db.write() as session:
        import_customers(session, _read("customers.csv"))
        report = import_orders(session, _read("orders_rows.csv"), name="orders_rows.csv")
    problems = {e.line: e.reason for e in report.rejected}
    assert sorted(problems) == [3, 5, 6, 7]
    assert problems[3].startswith("unbalanced quote")
    assert problems[5] == problems[6] == "unknown customer_ref 'K-9999' (import customers first)"
    assert problems[7].startswith("product contains a NUL byte")
    assert (report.rows, report.rows_imported, report.created) == (7, 3, 3)
    with db.read() as session:
        orders = {o.order_number: o.products for o in session.exec(select(Order))}
        assert session.exec(select(func.count()).select_from(Order)).one() == 3
    assert orders == {"A-9001": ["Kettle"], "A-9003": ["Grinder"], "A-9006": ["Filter\nPapers"]}


def test_line_numbers_count_every_line_ending_and_skip_blank_lines() -> None:
    text = b'customer_ref,name\r\nK-1,One\r\n\r\nK-2,"Two\r\nlines"\rK-3,Three\nK-4,"Four'
    table = read_table(text, name="x.csv", fields=("customer_ref", "name"), required=(), mapping={}, delimiter=None)
    assert [(r.line, r.last_line, r.values["customer_ref"]) for r in table.rows] == [
        (2, 2, "K-1"),
        (4, 5, "K-2"),
        (6, 6, "K-3"),
    ]
    assert [(e.line, e.reason) for e in table.broken] == [
        (7, "unbalanced quote: a quote opened on this line is never closed")
    ]
    assert table.count == 4


def test_a_swallowed_row_with_the_right_cell_count_is_still_found() -> None:
    """Three cells either way: the open quote on line 2 ends in line 3, but the value breaks at a delimiter."""
    text = b'customer_ref,name,email\nK-1,"Anna,anna@example.de\nK-2,Bob",bob@example.de\n'
    table = read_table(text, name="x.csv", fields=("customer_ref", "name"), required=(), mapping={}, delimiter=None)
    assert [e.line for e in table.broken] == [2]
    assert "runs on to line 3" in table.broken[0].reason
    assert [(r.line, r.values["customer_ref"], r.values["name"]) for r in table.rows] == [(3, "K-2", 'Bob"')]


def test_cli_prints_the_rows_read_and_where_they_went(tmp_path: Path, capsys, database_url: str) -> None:
    from socialcrm.cli import main

    config = tmp_path / "socialcrm.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    assert main(["--config", str(config), "customers", "import", str(DATA / "customers_quotes.csv")]) == 1
    out, err = capsys.readouterr()
    assert "customers: imported 9 (9 new, 0 updated, 0 unchanged), rejected 2" in out
    assert "rows: 11 read, 9 imported, 2 rejected" in out
    assert "customers_quotes.csv: line 3: rejected: unbalanced quote" in err
    assert "\r" not in err  # no progress bar when stderr is not a terminal


def test_the_cli_draws_a_progress_bar_on_a_terminal_and_clears_it(tmp_path: Path) -> None:
    """stderr is a pseudo-terminal here, as in a shell: the bar is drawn, then cleared before the report."""
    import os
    import pty
    import subprocess
    import sys

    from bench.crm_data import customers_csv, generate_people

    config = tmp_path / "socialcrm.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "bar.db"}"\n', encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_bytes(customers_csv(generate_people(3000, seed=2)))
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "socialcrm", "--config", str(config), "customers", "import", str(people)]
    done = subprocess.run(command, stderr=follower, stdout=subprocess.PIPE, timeout=120, check=False)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end is closed: everything was read
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert done.returncode == 0, screen.decode(errors="replace")
    assert b"\r\x1b[Kcustomers: [" in screen and b"3,000/3,000" in screen
    assert screen.endswith(b"\r\x1b[K")  # cleared: the report on stdout starts on a clean line
    assert b"rows: 3000 read, 3000 imported, 0 rejected" in done.stdout
