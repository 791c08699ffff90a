"""Webhook delivery attempts (issue 20, part 4; ``db.models.webhook.WebhookDelivery``): one
row per try of an event to an endpoint, pruned with the outbox."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0010_webhook_endpoint")]

    initial = False

    operations = [
        ops.CreateModel(
            name="WebhookDelivery",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "endpoint",
                    fields.ForeignKeyField(
                        "models.WebhookEndpoint",
                        source_field="endpoint_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sequence", fields.BigIntField()),
                ("event_type", fields.CharField(max_length=64)),
                ("webhook_id", fields.CharField(max_length=100)),
                ("attempt", fields.IntField()),
                ("status_code", fields.IntField(null=True)),
                ("error", fields.CharField(null=True, max_length=500)),
                ("duration_ms", fields.IntField()),
                (
                    "attempted_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "next_retry_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "webhook_delivery",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One delivery attempt of an event to an endpoint.",
            },
            bases=["Model"],
        ),
        # webhookDeliveries: one endpoint's attempts, newest first
        ops.AddIndex(model_name="WebhookDelivery", index=Index(fields=["endpoint_id", "id"])),
        # a redelivery's attempt number: the event's earlier attempts
        ops.AddIndex(
            model_name="WebhookDelivery", index=Index(fields=["endpoint_id", "webhook_id"])
        ),
    ]
