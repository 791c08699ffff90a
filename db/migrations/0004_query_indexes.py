"""Query speed at scale (issue 7): the contact's assignee and blocked flag copied onto its
conversations, kept by database triggers, and the composite indexes the lists and counts use.

Every inbox holds conversations by their contact's facts (``graph.permissions.visibility``):
with the facts on the conversation row, a sidebar count is a range count on one index and an
inbox list a walk down one index, with no join to ``contact``. The triggers keep the copy in
the same transaction as every write that changes it, whatever code path writes (ORM, bulk
seeding, cascades, a merge moving conversations between contacts):

- a conversation inserted, or updated in any way (a move to another contact, a save of a stale
  object), takes its contact's current facts;
- a contact whose assignee or blocked flag changes passes them to all its conversations.

Sidebar counts of open conversations are sums of maintained counters, so that no count reads
more than a few rows whatever the workspace's size: ``open_conversation_count`` holds, per
workspace, contact's assignee (``0``: unassigned) and blocked flag, how many conversations are
open. Triggers on ``conversation`` keep it in the same transaction: an inserted open
conversation adds one at its facts, an update moves one from the old row's (status, facts) to
the new row's, a deleted open conversation removes one. They read only the conversation row's
own copies, so they stay right whatever order they fire in with the triggers above (a count
moved from stale copies to corrected ones nets out).
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

SQLITE = [
    # a conversation takes its contact's facts when inserted ...
    """
    CREATE TRIGGER conversation_contact_facts_on_insert AFTER INSERT ON conversation
    BEGIN
        UPDATE conversation SET
            contact_assignee_id = (SELECT assignee_id FROM contact WHERE id = NEW.contact_id),
            contact_blocked = (SELECT blocked FROM contact WHERE id = NEW.contact_id)
        WHERE id = NEW.id;
    END
    """,
    # ... and whenever an update leaves them different from its contact's (no recursion: the
    # correcting update makes the condition false)
    """
    CREATE TRIGGER conversation_contact_facts_on_update AFTER UPDATE ON conversation
    WHEN NEW.contact_assignee_id IS NOT (SELECT assignee_id FROM contact WHERE id = NEW.contact_id)
      OR NEW.contact_blocked IS NOT (SELECT blocked FROM contact WHERE id = NEW.contact_id)
    BEGIN
        UPDATE conversation SET
            contact_assignee_id = (SELECT assignee_id FROM contact WHERE id = NEW.contact_id),
            contact_blocked = (SELECT blocked FROM contact WHERE id = NEW.contact_id)
        WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER contact_facts_to_conversations AFTER UPDATE OF assignee_id, blocked ON contact
    WHEN OLD.assignee_id IS NOT NEW.assignee_id OR OLD.blocked IS NOT NEW.blocked
    BEGIN
        UPDATE conversation SET contact_assignee_id = NEW.assignee_id, contact_blocked = NEW.blocked
        WHERE contact_id = NEW.id;
    END
    """,
]

COUNT_SQLITE = [
    """
    CREATE TRIGGER open_conversation_count_on_insert AFTER INSERT ON conversation
    WHEN NEW.status = 'OPEN'
    BEGIN
        INSERT INTO open_conversation_count (workspace_id, assignee_key, blocked, count)
        VALUES (NEW.workspace_id, COALESCE(NEW.contact_assignee_id, 0), NEW.contact_blocked, 1)
        ON CONFLICT (workspace_id, assignee_key, blocked) DO UPDATE SET count = count + 1;
    END
    """,
    """
    CREATE TRIGGER open_conversation_count_on_update AFTER UPDATE ON conversation
    WHEN (OLD.status = 'OPEN' OR NEW.status = 'OPEN') AND (
        OLD.status IS NOT NEW.status OR OLD.workspace_id IS NOT NEW.workspace_id
        OR OLD.contact_assignee_id IS NOT NEW.contact_assignee_id
        OR OLD.contact_blocked IS NOT NEW.contact_blocked)
    BEGIN
        INSERT INTO open_conversation_count (workspace_id, assignee_key, blocked, count)
        SELECT OLD.workspace_id, COALESCE(OLD.contact_assignee_id, 0), OLD.contact_blocked, -1
        WHERE OLD.status = 'OPEN'
        ON CONFLICT (workspace_id, assignee_key, blocked) DO UPDATE SET count = count - 1;
        INSERT INTO open_conversation_count (workspace_id, assignee_key, blocked, count)
        SELECT NEW.workspace_id, COALESCE(NEW.contact_assignee_id, 0), NEW.contact_blocked, 1
        WHERE NEW.status = 'OPEN'
        ON CONFLICT (workspace_id, assignee_key, blocked) DO UPDATE SET count = count + 1;
    END
    """,
    """
    CREATE TRIGGER open_conversation_count_on_delete AFTER DELETE ON conversation
    WHEN OLD.status = 'OPEN'
    BEGIN
        INSERT INTO open_conversation_count (workspace_id, assignee_key, blocked, count)
        VALUES (OLD.workspace_id, COALESCE(OLD.contact_assignee_id, 0), OLD.contact_blocked, -1)
        ON CONFLICT (workspace_id, assignee_key, blocked) DO UPDATE SET count = count - 1;
    END
    """,
]

COUNT_POSTGRES = [
    """
    CREATE FUNCTION open_conversation_count_add(ws INT, assignee INT, is_blocked BOOL, delta INT)
    RETURNS void AS $$
        INSERT INTO open_conversation_count (workspace_id, assignee_key, blocked, count)
        VALUES (ws, COALESCE(assignee, 0), is_blocked, delta)
        ON CONFLICT (workspace_id, assignee_key, blocked)
        DO UPDATE SET count = open_conversation_count.count + delta
    $$ LANGUAGE sql
    """,
    """
    CREATE FUNCTION open_conversation_count_track() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'OPEN' THEN
            PERFORM open_conversation_count_add(OLD.workspace_id, OLD.contact_assignee_id, OLD.contact_blocked, -1);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'OPEN' THEN
            PERFORM open_conversation_count_add(NEW.workspace_id, NEW.contact_assignee_id, NEW.contact_blocked, 1);
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER open_conversation_count_on_insert_or_delete AFTER INSERT OR DELETE ON conversation
    FOR EACH ROW EXECUTE FUNCTION open_conversation_count_track()
    """,
    """
    CREATE TRIGGER open_conversation_count_on_update AFTER UPDATE ON conversation
    FOR EACH ROW
    WHEN ((OLD.status = 'OPEN' OR NEW.status = 'OPEN') AND (
        OLD.status IS DISTINCT FROM NEW.status OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id
        OR OLD.contact_assignee_id IS DISTINCT FROM NEW.contact_assignee_id
        OR OLD.contact_blocked IS DISTINCT FROM NEW.contact_blocked))
    EXECUTE FUNCTION open_conversation_count_track()
    """,
]

COUNT_BACKFILL = """
INSERT INTO open_conversation_count (workspace_id, assignee_key, blocked, count)
SELECT workspace_id, COALESCE(contact_assignee_id, 0), contact_blocked, COUNT(*)
FROM conversation WHERE status = 'OPEN'
GROUP BY workspace_id, COALESCE(contact_assignee_id, 0), contact_blocked
"""

POSTGRES = [
    """
    CREATE FUNCTION conversation_contact_facts() RETURNS trigger AS $$
    BEGIN
        SELECT assignee_id, blocked INTO NEW.contact_assignee_id, NEW.contact_blocked
        FROM contact WHERE id = NEW.contact_id;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER conversation_contact_facts BEFORE INSERT OR UPDATE ON conversation
    FOR EACH ROW EXECUTE FUNCTION conversation_contact_facts()
    """,
    """
    CREATE FUNCTION contact_facts_to_conversations() RETURNS trigger AS $$
    BEGIN
        UPDATE conversation SET contact_assignee_id = NEW.assignee_id, contact_blocked = NEW.blocked
        WHERE contact_id = NEW.id;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER contact_facts_to_conversations AFTER UPDATE OF assignee_id, blocked ON contact
    FOR EACH ROW
    WHEN (OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.blocked IS DISTINCT FROM NEW.blocked)
    EXECUTE FUNCTION contact_facts_to_conversations()
    """,
]

BACKFILL = """
UPDATE conversation SET
    contact_assignee_id = (SELECT assignee_id FROM contact WHERE contact.id = conversation.contact_id),
    contact_blocked = (SELECT blocked FROM contact WHERE contact.id = conversation.contact_id)
"""


async def copy_contact_facts(apps, schema_editor) -> None:
    """Fill the copies of existing rows and the counters, then install the triggers of this
    dialect."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await client.execute_script(BACKFILL)
    await client.execute_script(COUNT_BACKFILL)
    for statement in (POSTGRES + COUNT_POSTGRES) if postgres else (SQLITE + COUNT_SQLITE):
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [("models", "0003_crm")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Conversation",
            name="contact_assignee_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="Conversation",
            name="contact_blocked",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.CreateModel(
            name="OpenConversationCount",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="open_conversation_counts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("assignee_key", fields.IntField()),
                ("blocked", fields.BooleanField()),
                ("count", fields.IntField()),
            ],
            options={
                "table": "open_conversation_count",
                "app": "models",
                "unique_together": (("workspace", "assignee_key", "blocked"),),
                "pk_attr": "id",
                "table_description": "How many open conversations a workspace holds per (contact's assignee, blocked flag):",
            },
            bases=["Model"],
        ),
        ops.RunPython(copy_contact_facts),
        # counts by status and facts (an index-only range count), and the lists of one
        # assignee (MINE, UNASSIGNED) newest activity first
        ops.AddIndex(
            model_name="Conversation",
            index=Index(
                fields=[
                    "workspace_id",
                    "status",
                    "contact_blocked",
                    "contact_assignee_id",
                    "last_activity_at",
                    "id",
                ]
            ),
        ),
        # the lists of every assignee (ALL, team and custom inboxes) newest activity first
        ops.AddIndex(
            model_name="Conversation",
            index=Index(
                fields=["workspace_id", "status", "contact_blocked", "last_activity_at", "id"]
            ),
        ),
        # the blocked inbox: its conversations of any status, and their count
        ops.AddIndex(
            model_name="Conversation",
            index=Index(fields=["workspace_id", "contact_blocked", "last_activity_at", "id"]),
        ),
    ]
