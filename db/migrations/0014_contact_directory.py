"""Contacts for partners (issue 21, item 4): ``upsertContact``'s unique keys
(``db.models.contact.ContactKey``), the erased contact's tombstone fields (``eraseContact``) and
the index of the ``contacts`` list (newest first)."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from db.models.contact import ContactKeyKind


class Migration(migrations.Migration):
    dependencies = [("models", "0013_message_delivery")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Contact",
            name="erased_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Contact",
            name="erased_counts",
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        # contacts(): a workspace's contacts, newest first
        ops.AddIndex(
            model_name="Contact", index=Index(fields=["workspace_id", "created_at", "id"])
        ),
        ops.CreateModel(
            name="ContactKey",
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
                        related_name="contact_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharEnumField(ContactKeyKind, max_length=10)),
                ("value", fields.CharField(max_length=254)),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "contact_key",
                "app": "models",
                "unique_together": (("workspace", "kind", "value"),),
                "indexes": [Index(fields=["contact_id"])],
                "pk_attr": "id",
                "table_description": "A phone number or e-mail upsertContact matched a contact by.",
            },
            bases=["Model"],
        ),
    ]
