"""Fields keep why no reading kept the rule of their template region.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_error', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_column('rule_error')
