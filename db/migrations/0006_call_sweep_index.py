"""The ring-timeout sweep's index: every worker asks each second for the calls ringing since
before a time, across workspaces (``graph.resolvers.call``), which no index starting with the
workspace serves."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_contact_panel")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Call",
            index=Index(fields=["status", "ringing_at"]),
        ),
    ]
