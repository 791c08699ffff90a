"""Calls (issue 21, part 2; ``domain.md`` section 5): a calling channel's own number
(``Channel.phone_number``, E.164: the called number of its inbound calls reported without
``to``, the calling number of its outbound calls) and the URL of a finished recording that
the connector reports (``Call.recording_url``). Existing rows keep null: no channel had a
number, no recording a URL."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0012_search")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Channel",
            name="phone_number",
            field=fields.CharField(null=True, max_length=20),
        ),
        ops.AddField(
            model_name="Call",
            name="recording_url",
            field=fields.CharField(null=True, max_length=2048),
        ),
    ]
