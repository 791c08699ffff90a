"""Registered documents (issue 19, trusted documents; ``db.models.persisted``): the hash is
the primary key, the only way they are read."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_access_token_scopes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PersistedDocument",
            fields=[
                (
                    "hash",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                ("document", fields.TextField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "persisted_document",
                "app": "models",
                "pk_attr": "hash",
                "table_description": "One registered GraphQL document.",
            },
            bases=["Model"],
        ),
    ]
