"""Delivery status reports (issue 21, item 3; ``graph.resolvers.delivery``): the time of each
status a connector reported for an outbound message, and a failure's reason."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0011_webhook_delivery")]

    initial = False

    operations = [
        *(
            ops.AddField(
                model_name="Message",
                name=name,
                field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
            )
            for name in ("sent_at", "delivered_at", "read_at", "failed_at")
        ),
        ops.AddField(
            model_name="Message",
            name="failure_reason",
            field=fields.CharField(null=True, max_length=500),
        ),
    ]
