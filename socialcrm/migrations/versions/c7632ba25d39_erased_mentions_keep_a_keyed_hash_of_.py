"""Erased mentions keep a keyed hash of their post id, not the id itself.

Revision ID: c7632ba25d39
Revises: 98f310373019
Create Date: 2026-12-01 17:56:58.568388
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "c7632ba25d39"
down_revision = "98f310373019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Make the installation's erasure key, and hash the post ids of the mentions erased before it."""
    op.create_table(
        "erasure_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    secret = secrets.token_hex(32)
    op.execute(sa.text("INSERT INTO erasure_key (id, secret) VALUES (1, :secret)").bindparams(secret=secret))
    key = bytes.fromhex(secret)
    connection = op.get_bind()
    erased = connection.execute(
        sa.text("SELECT id, source, external_id FROM mention WHERE erased_at IS NOT NULL")
    ).all()
    # The value services/erased_posts.py computes (tests/core/test_privacy.py checks the two agree).
    hashed = [
        {"mid": mid, "eid": "erased:" + hmac.new(key, f"{source}\0{eid}".encode(), hashlib.sha256).hexdigest()}
        for mid, source, eid in erased
    ]
    if hashed:
        connection.execute(sa.text("UPDATE mention SET external_id = :eid WHERE id = :mid"), hashed)


def downgrade() -> None:
    """Drop the key (the erased post ids stay hashed: the originals are gone)."""
    op.drop_table("erasure_key")
