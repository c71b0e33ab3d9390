"""A batch's callback: the URL told when it finishes, and how its delivery went.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_url', sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column('callback_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('callback_attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('callback_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('callback_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        for column in ('callback_at', 'callback_error', 'callback_attempts', 'callback_status',
                       'callback_url'):
            batch_op.drop_column(column)
