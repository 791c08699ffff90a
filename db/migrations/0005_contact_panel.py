from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0004_query_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ActivityMention",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "activity",
                    fields.ForeignKeyField(
                        "models.Activity",
                        source_field="activity_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="mentions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="mentions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "activity_mention",
                "app": "models",
                "unique_together": (("activity", "user"),),
                "indexes": [Index(fields=["user_id"])],
                "pk_attr": "id",
                "table_description": "A user ``@``-mentioned in a comment: a reference, not text (``domain.md`` section 6).",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="User",
            name="can_edit_contacts",
            field=fields.BooleanField(
                default=True,
                db_default=True,
                description="may edit and merge contacts (owners and managers always may)",
            ),
        ),
    ]
