from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="UnseenMark",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="unseen_marks",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("inbox_key", fields.CharField(max_length=40)),
                (
                    "conversation",
                    fields.ForeignKeyField(
                        "models.Conversation",
                        source_field="conversation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="unseen_marks",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("marked_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "unseen_mark",
                "app": "models",
                "unique_together": (("user", "inbox_key", "conversation"),),
                "pk_attr": "id",
                "table_description": "A conversation with an inbound message a user has not seen in one inbox yet.",
            },
            bases=["Model"],
        ),
    ]
