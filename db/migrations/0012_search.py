"""Full-text search (issue 21, item 1; ``graph.resolvers.search``): the indexes ``searchContacts``
and ``searchMessages`` read, kept by the database in the same transaction as every write that
changes a contact's name, e-mail or phone or a message's text (ORM, bulk seeding, merges,
cascades alike).

What is indexed, on both databases:

- a contact's words: first name, last name and e-mail, split into words at every character
  that is neither a letter nor a digit, lower-cased and without accents ("Élodie" is found by
  "elodie"), each word found by any prefix of it;
- a contact's phone number as its digits (E.164 without ``+``), found by any fragment of three
  digits or more;
- a message's words, as a contact's.

SQLite: FTS5 tables ``contact_search`` (``unicode61 remove_diacritics 2``, prefix indexes),
``contact_phone_search`` (``trigram``) and ``message_search`` (external content: the text
stays in ``message``), written by triggers.

PostgreSQL: generated columns ``contact.search_document`` (``contact_search_document(first_name,
last_name, email)``) and ``message.search_document`` (``message_search_document(text)``),
``tsvector``s of the ``simple`` configuration over ``unaccent``ed words (a contact's name
weighs ``A``, its e-mail ``B``), computed by the database on every write, with GIN indexes; and
``pg_trgm`` on ``contact.phone``. The columns are not in the models: tortoise never reads or
writes them. It creates the ``unaccent`` and ``pg_trgm`` extensions
(shipped with PostgreSQL's contrib; creating them needs a role that may, e.g. the database's
owner on PostgreSQL 13+ for these trusted extensions).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

WORDS = "unicode61 remove_diacritics 2"

SQLITE = [
    f"""
    CREATE VIRTUAL TABLE contact_search USING fts5(
        name, email, tokenize = '{WORDS}', prefix = '1 2 3'
    )
    """,
    """
    CREATE VIRTUAL TABLE contact_phone_search USING fts5(phone, tokenize = 'trigram')
    """,
    f"""
    CREATE VIRTUAL TABLE message_search USING fts5(
        text, content = 'message', content_rowid = 'id', tokenize = '{WORDS}',
        prefix = '1 2 3'
    )
    """,
    """
    CREATE TRIGGER contact_search_on_insert AFTER INSERT ON contact
    BEGIN
        INSERT INTO contact_search (rowid, name, email) VALUES (
            NEW.id, COALESCE(NEW.first_name, '') || ' ' || COALESCE(NEW.last_name, ''),
            COALESCE(NEW.email, ''));
        INSERT INTO contact_phone_search (rowid, phone)
        SELECT NEW.id, REPLACE(NEW.phone, '+', '') WHERE NEW.phone IS NOT NULL;
    END
    """,
    """
    CREATE TRIGGER contact_search_on_update
    AFTER UPDATE OF first_name, last_name, email, phone ON contact
    BEGIN
        DELETE FROM contact_search WHERE rowid = OLD.id;
        DELETE FROM contact_phone_search WHERE rowid = OLD.id;
        INSERT INTO contact_search (rowid, name, email) VALUES (
            NEW.id, COALESCE(NEW.first_name, '') || ' ' || COALESCE(NEW.last_name, ''),
            COALESCE(NEW.email, ''));
        INSERT INTO contact_phone_search (rowid, phone)
        SELECT NEW.id, REPLACE(NEW.phone, '+', '') WHERE NEW.phone IS NOT NULL;
    END
    """,
    """
    CREATE TRIGGER contact_search_on_delete AFTER DELETE ON contact
    BEGIN
        DELETE FROM contact_search WHERE rowid = OLD.id;
        DELETE FROM contact_phone_search WHERE rowid = OLD.id;
    END
    """,
    """
    CREATE TRIGGER message_search_on_insert AFTER INSERT ON message
    WHEN NEW.text IS NOT NULL
    BEGIN
        INSERT INTO message_search (rowid, text) VALUES (NEW.id, NEW.text);
    END
    """,
    """
    CREATE TRIGGER message_search_on_update AFTER UPDATE OF text ON message
    WHEN OLD.text IS NOT NEW.text
    BEGIN
        INSERT INTO message_search (message_search, rowid, text)
        SELECT 'delete', OLD.id, OLD.text WHERE OLD.text IS NOT NULL;
        INSERT INTO message_search (rowid, text)
        SELECT NEW.id, NEW.text WHERE NEW.text IS NOT NULL;
    END
    """,
    """
    CREATE TRIGGER message_search_on_delete AFTER DELETE ON message
    WHEN OLD.text IS NOT NULL
    BEGIN
        INSERT INTO message_search (message_search, rowid, text) VALUES ('delete', OLD.id, OLD.text);
    END
    """,
    """
    INSERT INTO contact_search (rowid, name, email)
    SELECT id, COALESCE(first_name, '') || ' ' || COALESCE(last_name, ''), COALESCE(email, '')
    FROM contact
    """,
    """
    INSERT INTO contact_phone_search (rowid, phone)
    SELECT id, REPLACE(phone, '+', '') FROM contact WHERE phone IS NOT NULL
    """,
    "INSERT INTO message_search (message_search) VALUES ('rebuild')",
]

POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # unaccent() is only STABLE (its dictionary could change): naming the dictionary makes
    # this wrapper safe to declare IMMUTABLE, which an index expression needs
    """
    CREATE FUNCTION search_words(value TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
        SELECT lower(public.unaccent('public.unaccent'::regdictionary,
                                     regexp_replace(value, '[^[:alnum:]]+', ' ', 'g')))
    $$
    """,
    """
    CREATE FUNCTION contact_search_document(first_name TEXT, last_name TEXT, email TEXT)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT setweight(to_tsvector('simple'::regconfig, COALESCE(search_words(
                   COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')), '')), 'A')
            || setweight(to_tsvector('simple'::regconfig,
                   COALESCE(search_words(email), '')), 'B')
    $$
    """,
    """
    CREATE FUNCTION message_search_document(text TEXT)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT to_tsvector('simple'::regconfig, COALESCE(search_words(text), ''))
    $$
    """,
    # stored: a statement that filters on the document (rechecking a bitmap, or walking the
    # primary key backwards for a common word) reads it instead of computing it per row
    """
    ALTER TABLE contact ADD COLUMN search_document tsvector
    GENERATED ALWAYS AS (contact_search_document(first_name, last_name, email)) STORED
    """,
    "CREATE INDEX contact_search_document_idx ON contact USING gin (search_document)",
    "CREATE INDEX contact_phone_trgm_idx ON contact USING gin (phone gin_trgm_ops)",
    """
    ALTER TABLE message ADD COLUMN search_document tsvector
    GENERATED ALWAYS AS (message_search_document(text)) STORED
    """,
    "CREATE INDEX message_search_document_idx ON message USING gin (search_document)",
]


async def create_search_indexes(apps, schema_editor) -> None:
    """Create this dialect's search indexes (and, on SQLite, their triggers), filled with the
    existing rows."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for statement in POSTGRES if postgres else SQLITE:
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [("models", "0014_contact_directory")]

    initial = False

    operations = [ops.RunPython(create_search_indexes)]
