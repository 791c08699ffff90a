from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from db.models.crm import CrmProvider


class Migration(migrations.Migration):
    dependencies = [("models", "0002_unseen_mark")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CrmConnection",
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
                        related_name="crm_connections",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "provider",
                    fields.CharEnumField(
                        description="HUBSPOT: HUBSPOT\nSALESFORCE: SALESFORCE",
                        enum_type=CrmProvider,
                        max_length=16,
                    ),
                ),
                ("instance_url", fields.CharField(null=True, max_length=255)),
                ("account_id", fields.CharField(null=True, max_length=64)),
                ("app_url", fields.CharField(null=True, max_length=255)),
                (
                    "encrypted_token",
                    fields.TextField(
                        description="Fernet token of the CRM access token", unique=False
                    ),
                ),
                (
                    "connected_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="connected_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="crm_connections",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("connected_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "crm_connection",
                "app": "models",
                "unique_together": (("workspace", "provider"),),
                "pk_attr": "id",
                "table_description": "One connected CRM of a workspace (at most one per provider).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CrmLink",
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
                        related_name="crm_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="crm_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "provider",
                    fields.CharEnumField(
                        description="HUBSPOT: HUBSPOT\nSALESFORCE: SALESFORCE",
                        enum_type=CrmProvider,
                        max_length=16,
                    ),
                ),
                ("object_type", fields.CharField(max_length=32)),
                ("record_id", fields.CharField(max_length=64)),
                ("matched_by", fields.CharField(description="EMAIL or PHONE", max_length=8)),
                ("linked_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "crm_link",
                "app": "models",
                "unique_together": (("contact", "provider"),),
                "pk_attr": "id",
                "table_description": "The CRM record a contact was matched to (by e-mail, then phone), remembered so later",
            },
            bases=["Model"],
        ),
    ]
