"""CRM integrations (``domain.md`` section 6, CRM tabs): one small client per CRM
(:mod:`.hubspot`, :mod:`.salesforce`) behind :class:`~graph.crm.base.Crm`.

:func:`crm_for` builds the client of a stored connection; :func:`check_instance_url` is the
one rule for which Salesforce instance URLs the server may call.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from db.models import CrmProvider
from graph.crm.base import Crm
from graph.crm.hubspot import HubSpot
from graph.crm.salesforce import Salesforce
from graph.errors import BadUserInput

if TYPE_CHECKING:
    from db.models import CrmConnection
    from graph.settings import Settings

SALESFORCE_DOMAINS = (".salesforce.com", ".force.com", ".cloudforce.com", ".salesforce.mil")
LABELS = {CrmProvider.HUBSPOT: "HubSpot", CrmProvider.SALESFORCE: "Salesforce"}


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_instance_url(settings: Settings, value: str | None) -> str:
    """The Salesforce instance URL to store: ``https://`` on a Salesforce domain
    (``https://acme.my.salesforce.com``), without path, query or credentials. Outside
    production (``INBOX_GRAPH_ENV``), ``http(s)://`` loopback addresses are accepted too, for
    local CRM stand-ins. Anything else could point the server at internal hosts.

    Raises:
        BadUserInput: (``instanceUrl``) missing, malformed or not allowed.
    """
    raw = (value or "").strip().rstrip("/")
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise BadUserInput("`instanceUrl` is not a valid URL.", field="instanceUrl") from None
    if not raw:
        raise BadUserInput("Salesforce needs `instanceUrl`.", field="instanceUrl")
    if parts.username or parts.password or parts.path or parts.query or parts.fragment or not host:
        raise BadUserInput(
            "`instanceUrl` is the org's base URL only, e.g. https://acme.my.salesforce.com.",
            field="instanceUrl",
        )
    salesforce = parts.scheme == "https" and host.endswith(SALESFORCE_DOMAINS)
    local = not settings.production and parts.scheme in ("http", "https") and _loopback(host)
    if not (salesforce or local):
        raise BadUserInput(
            "`instanceUrl` must be an https:// Salesforce domain (*.my.salesforce.com).",
            field="instanceUrl",
        )
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    return f"{parts.scheme}://{netloc}"


def crm_for(settings: Settings, connection: CrmConnection, token: str) -> Crm:
    """The client of a stored connection, with its decrypted ``token``."""
    cache_key = (connection.id, connection.connected_at.isoformat())
    if connection.provider is CrmProvider.HUBSPOT:
        return HubSpot(
            settings,
            token,
            account_id=connection.account_id,
            app_url=connection.app_url,
            cache_key=cache_key,
        )
    return Salesforce(
        settings, token, instance_url=connection.instance_url or "", cache_key=cache_key
    )


__all__ = ["LABELS", "check_instance_url", "crm_for"]
