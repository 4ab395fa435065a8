"""catalog: search by terms (character pairs of Chinese, pinyin, English stems) through an index

Revision ID: 0015_listing_search_terms
Revises: 0014_listing_on_sale

Every listing gets ``search_terms`` (mall.catalog.search.index_terms of its titles and descriptions,
computed here for the listings already there), indexed as words: an FTS5 table on SQLite in place of
the trigram one, a GIN index of the terms as a tsvector on PostgreSQL in place of the trigram index
(which two-character Chinese words could not use).
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_listing_search_terms'
down_revision = '0014_listing_on_sale'
branch_labels = None
depends_on = None

TERMS_VECTOR = "array_to_tsvector(string_to_array(search_terms, ' '))"


def upgrade():
    from mall.catalog.search import index_terms

    with op.batch_alter_table('listing', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_terms', sa.Text(), nullable=False, server_default=''))
    bind = op.get_bind()
    listing = sa.table('listing', sa.column('id'), sa.column('title_zh'), sa.column('title_en'),
                       sa.column('description_zh'), sa.column('description_en'), sa.column('search_terms'))
    last = 0
    while True:
        rows = bind.execute(sa.select(listing).where(listing.c.id > last).order_by(listing.c.id).limit(2000)).all()
        if not rows:
            break
        bind.execute(sa.update(listing).where(listing.c.id == sa.bindparam('row_id')).values(
            search_terms=sa.bindparam('terms')), [
            {'row_id': r.id, 'terms': index_terms(r.title_zh, r.title_en, r.description_zh or '', r.description_en or '')}
            for r in rows])
        last = rows[-1].id
    if bind.dialect.name == 'sqlite':
        for trigger in ('listing_fts_insert', 'listing_fts_delete', 'listing_fts_update'):
            op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
        op.execute('DROP TABLE IF EXISTS listing_fts')
        op.execute("CREATE VIRTUAL TABLE listing_fts USING fts5(search_terms, content='listing', content_rowid='id', "
                   "tokenize='unicode61')")
        op.execute("INSERT INTO listing_fts(listing_fts) VALUES ('rebuild')")
        op.execute("""CREATE TRIGGER listing_fts_insert AFTER INSERT ON listing BEGIN
            INSERT INTO listing_fts(rowid, search_terms) VALUES (new.id, new.search_terms); END""")
        op.execute("""CREATE TRIGGER listing_fts_delete AFTER DELETE ON listing BEGIN
            INSERT INTO listing_fts(listing_fts, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END""")
        op.execute("""CREATE TRIGGER listing_fts_update AFTER UPDATE OF search_terms ON listing BEGIN
            INSERT INTO listing_fts(listing_fts, rowid, search_terms) VALUES ('delete', old.id, old.search_terms);
            INSERT INTO listing_fts(rowid, search_terms) VALUES (new.id, new.search_terms); END""")
    elif bind.dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_listing_search_trgm')
        op.execute(f'CREATE INDEX ix_listing_search_terms ON listing USING gin (({TERMS_VECTOR}))')
        op.execute('ANALYZE listing')


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for trigger in ('listing_fts_insert', 'listing_fts_delete', 'listing_fts_update'):
            op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
        op.execute('DROP TABLE IF EXISTS listing_fts')
    elif bind.dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_listing_search_terms')
    with op.batch_alter_table('listing', schema=None) as batch_op:
        batch_op.drop_column('search_terms')
    _create_trigram_search(bind.dialect.name)


def _create_trigram_search(dialect):
    """The search structures of 0003_catalog, as they were."""
    if dialect == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE listing_fts USING fts5(title_zh, title_en, description_zh, "
                   "description_en, content='listing', content_rowid='id', tokenize='trigram')")
        op.execute("INSERT INTO listing_fts(listing_fts) VALUES ('rebuild')")
        op.execute("""CREATE TRIGGER listing_fts_insert AFTER INSERT ON listing BEGIN
            INSERT INTO listing_fts(rowid, title_zh, title_en, description_zh, description_en)
            VALUES (new.id, new.title_zh, new.title_en, new.description_zh, new.description_en); END""")
        op.execute("""CREATE TRIGGER listing_fts_delete AFTER DELETE ON listing BEGIN
            INSERT INTO listing_fts(listing_fts, rowid, title_zh, title_en, description_zh, description_en)
            VALUES ('delete', old.id, old.title_zh, old.title_en, old.description_zh, old.description_en); END""")
        op.execute("""CREATE TRIGGER listing_fts_update AFTER UPDATE OF title_zh, title_en, description_zh,
            description_en ON listing BEGIN
            INSERT INTO listing_fts(listing_fts, rowid, title_zh, title_en, description_zh, description_en)
            VALUES ('delete', old.id, old.title_zh, old.title_en, old.description_zh, old.description_en);
            INSERT INTO listing_fts(rowid, title_zh, title_en, description_zh, description_en)
            VALUES (new.id, new.title_zh, new.title_en, new.description_zh, new.description_en); END""")
    elif dialect == 'postgresql':
        op.execute("CREATE INDEX ix_listing_search_trgm ON listing USING gin "
                   "((title_zh || ' ' || title_en) gin_trgm_ops)")
