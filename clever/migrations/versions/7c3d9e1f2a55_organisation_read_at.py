"""districts.clever_read_at, schools.clever_read_at: read Clever's records once a day

Revision ID: 7c3d9e1f2a55
Revises: 5b1e2c7d9a40
Create Date: 2026-12-05 12:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c3d9e1f2a55'
down_revision = '5b1e2c7d9a40'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('districts', 'schools'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('clever_read_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    for table in ('districts', 'schools'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('clever_read_at')
