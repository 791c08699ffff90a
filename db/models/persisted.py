"""Registered documents: the operations a deployment's clients may run by hash (issue 19,
trusted documents; :mod:`graph.persisted`).

``inbox-graph register-documents`` loads them from a client build's manifest, so every worker
(and every host) sees the same list.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PersistedDocument(Model):
    """One registered GraphQL document.

    ``hash``: SHA-256 (64 lowercase hex digits) of the document's UTF-8 text, the id clients
    send (``extensions.persistedQuery.sha256Hash``). ``document``: the text, exactly as the
    manifest holds it.
    """

    hash = fields.CharField(max_length=64, primary_key=True)
    document = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "persisted_document"


__all__ = ["PersistedDocument"]
