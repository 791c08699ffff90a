"""Sidebar counts without a read per unseen mark (issue 23 item 1): each unseen mark carries
copies of its conversation's status and contact facts (``contact_assignee_id``,
``contact_blocked``, themselves the contact's, migration 0004), kept by database triggers.

A user's new-message counts (``domain.md`` section 3) group their marks by inbox and by the
facts of each mark's conversation (:func:`graph.resolvers.indicators.count_parts`). Read
through the conversation, that was one primary-key lookup per mark: 3,303 marks of the demo's
``agent.all`` on the 100,000-contact workspace, 10 to 12 ms of PostgreSQL's time a sidebar.
With the copies on the mark it is a range of the marks' (user, inbox) index and a read of
each mark's own row, no conversation's: about 1 ms.

The triggers keep the copies in the same transaction as every write that changes them, whatever
code path writes (the ORM, the demo's bulk seeding, a merge moving marks):

- a mark inserted takes its conversation's current status and facts; on PostgreSQL it reads
  the conversation ``FOR SHARE``, so that a transaction changing that conversation at the same
  moment either commits first (and the mark reads its change) or waits for the mark's
  transaction (and then updates the committed mark): no mark keeps facts its conversation no
  longer has. (Every write of the API that inserts marks or changes a conversation locks its
  contact first, which orders them already; the lock keeps the rule the database's, whatever
  writes: it costs nothing where the transaction holds the conversation's row already, as an
  inbound message's does);
- a conversation whose status or copies change passes them to all its marks (an index on
  ``unseen_mark.conversation_id`` finds them).
"""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from db.models.conversation import ConversationStatus

_COPY = """
        UPDATE unseen_mark SET (conversation_status, contact_assignee_id, contact_blocked) = (
            SELECT status, contact_assignee_id, contact_blocked FROM conversation
            WHERE id = {conversation})
        WHERE {marks};"""
"""SQLite: the copies of the marks ``marks`` selects, from the conversation ``conversation``
names, as it is now."""

SQLITE = [
    f"""
    CREATE TRIGGER unseen_mark_conversation_facts_on_insert AFTER INSERT ON unseen_mark
    BEGIN{_COPY.format(conversation="NEW.conversation_id", marks="id = NEW.id")}
    END
    """,
    f"""
    CREATE TRIGGER unseen_mark_conversation_facts_on_update AFTER UPDATE OF conversation_id
    ON unseen_mark
    BEGIN{_COPY.format(conversation="NEW.conversation_id", marks="id = NEW.id")}
    END
    """,
    # the conversation's row as it is now, not NEW: migration 0004's triggers correct a
    # conversation's copies by a second update, whose triggers may fire before this one's
    f"""
    CREATE TRIGGER conversation_facts_to_unseen_marks AFTER UPDATE ON conversation
    WHEN OLD.status IS NOT NEW.status
      OR OLD.contact_assignee_id IS NOT NEW.contact_assignee_id
      OR OLD.contact_blocked IS NOT NEW.contact_blocked
    BEGIN{_COPY.format(conversation="NEW.id", marks="conversation_id = NEW.id")}
    END
    """,
]

POSTGRES = [
    """
    CREATE FUNCTION unseen_mark_conversation_facts() RETURNS trigger AS $$
    BEGIN
        SELECT status, contact_assignee_id, contact_blocked
        INTO NEW.conversation_status, NEW.contact_assignee_id, NEW.contact_blocked
        FROM conversation WHERE id = NEW.conversation_id FOR SHARE;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER unseen_mark_conversation_facts BEFORE INSERT OR UPDATE OF conversation_id
    ON unseen_mark FOR EACH ROW EXECUTE FUNCTION unseen_mark_conversation_facts()
    """,
    """
    CREATE FUNCTION conversation_facts_to_unseen_marks() RETURNS trigger AS $$
    BEGIN
        UPDATE unseen_mark SET conversation_status = NEW.status,
            contact_assignee_id = NEW.contact_assignee_id, contact_blocked = NEW.contact_blocked
        WHERE conversation_id = NEW.id;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER conversation_facts_to_unseen_marks AFTER UPDATE ON conversation
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
        OR OLD.contact_assignee_id IS DISTINCT FROM NEW.contact_assignee_id
        OR OLD.contact_blocked IS DISTINCT FROM NEW.contact_blocked)
    EXECUTE FUNCTION conversation_facts_to_unseen_marks()
    """,
]

BACKFILL = """
UPDATE unseen_mark SET
    conversation_status = (SELECT status FROM conversation WHERE conversation.id = unseen_mark.conversation_id),
    contact_assignee_id = (SELECT contact_assignee_id FROM conversation WHERE conversation.id = unseen_mark.conversation_id),
    contact_blocked = (SELECT contact_blocked FROM conversation WHERE conversation.id = unseen_mark.conversation_id)
"""


async def copy_conversation_facts(apps, schema_editor) -> None:
    """Install the triggers of this dialect, then fill the copies of existing marks.

    In this order: on PostgreSQL, creating the trigger on ``conversation`` waits for the
    writes under way on it and holds off new ones until the migration commits (an old
    instance still serving during a rolling deploy), so the backfill reads every change
    committed before it and none can commit after it unseen by the trigger (a change committed
    between a backfill and the trigger's creation was never copied to its marks)."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for statement in POSTGRES if postgres else SQLITE:
        await client.execute_script(statement)
    await client.execute_script(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [("models", "0016_webhook_history_start")]

    initial = False

    operations = [
        ops.AddField(
            model_name="UnseenMark",
            name="conversation_status",
            field=fields.CharEnumField(
                default=ConversationStatus.OPEN,
                db_default=ConversationStatus.OPEN,
                description="OPEN: OPEN\nCLOSED: CLOSED",
                enum_type=ConversationStatus,
                max_length=6,
            ),
        ),
        ops.AddField(
            model_name="UnseenMark",
            name="contact_assignee_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="UnseenMark",
            name="contact_blocked",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.RunPython(copy_conversation_facts),
        ops.AddIndex(model_name="UnseenMark", index=Index(fields=["conversation_id"])),
    ]
