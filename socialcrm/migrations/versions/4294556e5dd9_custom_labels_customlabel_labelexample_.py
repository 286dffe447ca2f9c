"""Custom labels: customlabel (definition, trained head, cross-validated estimate), labelexample, mentionlabel (predictions)

Revision ID: 4294556e5dd9
Revises: bfc10a3e62f2
Create Date: 2026-12-01 05:32:40.562913
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import socialcrm.models.columns

revision = "4294556e5dd9"
down_revision = "bfc10a3e62f2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customlabel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("head", sa.LargeBinary(), nullable=True),
        sa.Column("features", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
        sa.Column("trained_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trained_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("positives", sa.Integer(), nullable=False),
        sa.Column("negatives", sa.Integer(), nullable=False),
        sa.Column("cv_precision", sa.Float(), nullable=True),
        sa.Column("cv_recall", sa.Float(), nullable=True),
        sa.Column("cv_folds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customlabel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customlabel_name"), ["name"], unique=True)

    op.create_table(
        "labelexample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("added_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("added_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["customlabel.id"],
        ),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mention.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("label_id", "mention_id", name="uq_labelexample_label_mention"),
    )
    with op.batch_alter_table("labelexample", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labelexample_label_id"), ["label_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labelexample_mention_id"), ["mention_id"], unique=False)

    op.create_table(
        "mentionlabel",
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("predicted_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["customlabel.id"],
        ),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mention.id"],
        ),
        sa.PrimaryKeyConstraint("mention_id", "label_id"),
    )
    with op.batch_alter_table("mentionlabel", schema=None) as batch_op:
        batch_op.create_index("ix_mentionlabel_label_mention", ["label_id", "mention_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mentionlabel", schema=None) as batch_op:
        batch_op.drop_index("ix_mentionlabel_label_mention")

    op.drop_table("mentionlabel")
    with op.batch_alter_table("labelexample", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_labelexample_mention_id"))
        batch_op.drop_index(batch_op.f("ix_labelexample_label_id"))

    op.drop_table("labelexample")
    with op.batch_alter_table("customlabel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customlabel_name"))

    op.drop_table("customlabel")
