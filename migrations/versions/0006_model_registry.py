"""Model versions become a registry: files by role, evaluation, status, promotion time.

Rows recorded by workers before (a name only) keep working: their status stays NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PROMOTED_ONLY = "status = 'promoted'"


def upgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('files', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('metrics', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('uq_model_versions_promoted', ['status'], unique=True,
                              sqlite_where=sa.text(PROMOTED_ONLY),
                              postgresql_where=sa.text(PROMOTED_ONLY))


def downgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_model_versions_promoted')
        for column in ('promoted_at', 'note', 'metrics', 'files', 'status'):
            batch_op.drop_column(column)
