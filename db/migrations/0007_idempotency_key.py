"""Idempotency keys of creating mutations (``db.models.idempotency``): the unique constraint on
(workspace, user, key) decides concurrent retries; ``created_at`` serves the pruning."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_call_sweep_index")]

    initial = False

    operations = [
        ops.CreateModel(
            name="IdempotencyKey",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="idempotency_keys",
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
                        related_name="idempotency_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("key", fields.CharField(max_length=255)),
                ("mutation", fields.CharField(max_length=64)),
                ("fingerprint", fields.CharField(max_length=64)),
                ("result", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "idempotency_key",
                "app": "models",
                "unique_together": (("workspace", "user", "key"),),
                "indexes": [Index(fields=["created_at"])],
                "pk_attr": "id",
                "table_description": "One key a user sent with a creating mutation that succeeded.",
            },
            bases=["Model"],
        ),
    ]
