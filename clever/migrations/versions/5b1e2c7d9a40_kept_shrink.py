"""teacher_section_preferences.kept_shrink: a held class the teacher chose to keep

Revision ID: 5b1e2c7d9a40
Revises: 0061def4c369
Create Date: 2026-12-08 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b1e2c7d9a40'
down_revision = '0061def4c369'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('teacher_section_preferences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kept_shrink', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('teacher_section_preferences', schema=None) as batch_op:
        batch_op.drop_column('kept_shrink')
