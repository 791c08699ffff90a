"""Access tokens a partner can be given (issue 17, part 3; ``domain.md`` section 8): scopes,
the parent token that minted a token, and when it was last used.

Tokens made before scopes existed keep the power they had: ``ADMIN`` (the column's default),
listed as such by ``accessTokens`` so that owners can replace them. Their parents were not
recorded, so none of them dies with another. Tokens of users deactivated before this
migration are revoked now: reactivating a user never brings its old tokens back.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0007_idempotency_key")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="AccessToken",
            options={
                "table": "access_token",
                "app": "models",
                "indexes": [
                    Index(fields=["workspace_id", "id"]),
                    Index(fields=["user_id", "revoked_at"]),
                    Index(fields=["parent_id"]),
                ],
                "pk_attr": "id",
                "table_description": (
                    "A bearer token (its SHA-256 only) acting as its user, narrowed to its scopes."
                ),
            },
        ),
        ops.AddField(
            model_name="AccessToken",
            name="last_used_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="AccessToken",
            name="parent",
            field=fields.ForeignKeyField(
                "models.AccessToken",
                source_field="parent_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="children",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="AccessToken",
            name="scopes",
            field=fields.CharField(
                default="ADMIN",
                description="AccessTokenScope names separated by spaces",
                db_default="ADMIN",
                max_length=100,
            ),
        ),
        # the workspace's list, newest first; a user's live tokens (deactivation, password
        # change); a token's children (revocation)
        ops.AddIndex(model_name="AccessToken", index=Index(fields=["workspace_id", "id"])),
        ops.AddIndex(model_name="AccessToken", index=Index(fields=["user_id", "revoked_at"])),
        ops.AddIndex(model_name="AccessToken", index=Index(fields=["parent_id"])),
        ops.RunSQL(
            "UPDATE access_token SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL "
            'AND user_id IN (SELECT id FROM "user" WHERE NOT is_active)'
        ),
    ]
