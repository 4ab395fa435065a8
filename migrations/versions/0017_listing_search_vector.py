"""catalog on PostgreSQL: the search terms as a stored tsvector column with its own GIN index

Revision ID: 0017_listing_search_vector
Revises: 0016_listing_updated_at

With the terms indexed only as an expression, the planner had no statistics of the expression's
lexemes and guessed that any term matches 0.5 % of the catalog; for a rare word it then walked the
popularity index and built every listing's tsvector to test it (0.8 s at 100,000 listings). A stored
generated column carries statistics, and a test against it reads the stored vector. SQLite keeps its
FTS5 table; nothing changes there.
"""
from alembic import op


revision = '0017_listing_search_vector'
down_revision = '0016_listing_updated_at'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("ALTER TABLE listing ADD COLUMN search_vector tsvector "
               "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(search_terms, ' '))) STORED")
    op.execute('CREATE INDEX ix_listing_search_vector ON listing USING gin (search_vector)')
    op.execute('DROP INDEX IF EXISTS ix_listing_search_terms')
    op.execute('ANALYZE listing')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("CREATE INDEX ix_listing_search_terms ON listing USING gin "
               "((array_to_tsvector(string_to_array(search_terms, ' '))))")
    op.execute('DROP INDEX IF EXISTS ix_listing_search_vector')
    op.execute('ALTER TABLE listing DROP COLUMN search_vector')
