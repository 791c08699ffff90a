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
"""

from tortoise import fields, migrations
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
    """Fill the copies of existing rows, then install the triggers of this dialect."""
    client = schema_editor.client
    await client.execute_script(BACKFILL)
    for statement in POSTGRES if client.capabilities.dialect == "postgres" else SQLITE:
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0002_unseen_mark')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Conversation',
            name='contact_assignee_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Conversation',
            name='contact_blocked',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.RunPython(copy_contact_facts),
        # counts by status and facts (an index-only range count), and the lists of one
        # assignee (MINE, UNASSIGNED) newest activity first
        ops.AddIndex(
            model_name='Conversation',
            index=Index(fields=['workspace_id', 'status', 'contact_blocked', 'contact_assignee_id', 'last_activity_at', 'id']),
        ),
        # the lists of every assignee (ALL, team and custom inboxes) newest activity first
        ops.AddIndex(
            model_name='Conversation',
            index=Index(fields=['workspace_id', 'status', 'contact_blocked', 'last_activity_at', 'id']),
        ),
        # the blocked inbox: its conversations of any status, and their count
        ops.AddIndex(
            model_name='Conversation',
            index=Index(fields=['workspace_id', 'contact_blocked', 'last_activity_at', 'id']),
        ),
    ]
