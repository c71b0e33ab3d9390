"""Batches say how their images are laid out (page or field); fields keep each reader's reading.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layout', sa.String(length=8), nullable=False, server_default='page'))
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.add_column(sa.Column('readings', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_column('readings')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('layout')
