"""CRM tests: the API server pointed at a local HubSpot/Salesforce stand-in
(:mod:`tests.crm.fake_crm`), with a secret key for the stored tokens."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from tests.crm.fake_crm import FakeCrm, FakeCrmServer
from tests.support import serve

SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def fake_crm_server():
    server = FakeCrmServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_crm_server: FakeCrmServer) -> FakeCrm:
    """The fake CRMs, with no scripted failure and an empty request log."""
    fake_crm_server.fake.reset()
    return fake_crm_server.fake


@pytest.fixture(scope="session")
def crm_env(server_env: dict[str, str], fake_crm_server: FakeCrmServer) -> dict[str, str]:
    return {
        **server_env,
        "INBOX_GRAPH_SECRET_KEY": SECRET_KEY,
        "INBOX_GRAPH_HUBSPOT_URL": fake_crm_server.fake.url,
        "INBOX_GRAPH_CRM_TIMEOUT_SECONDS": "2",
        "INBOX_GRAPH_CRM_MAX_ATTEMPTS": "3",
    }


@pytest.fixture(scope="session")
def served(crm_env: dict[str, str]):
    """The API, as in the root conftest, but configured for the fake CRMs (the ``world``
    fixture builds its workspace on this server)."""
    server = serve(crm_env)
    yield server
    server.stop()
