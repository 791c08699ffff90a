"""Webhook endpoints re-enabled after the outbox pruned events they had not received (issue
20; ``db.models.webhook.WebhookEndpoint.history_starts_at``): the sequence their deliveries
resumed from. Existing endpoints lost nothing: null."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0015_call_numbers_recording_url")]

    initial = False

    operations = [
        ops.AddField(
            model_name="WebhookEndpoint",
            name="history_starts_at",
            field=fields.BigIntField(null=True),
        ),
    ]
