"""DNS rebinding (issue 20, part 1): in production a URL whose host passed validation but
resolves to a private address when a delivery is due is refused then, before any connection;
the addresses checked are those connected to, looked up for the name as it is connected to.

The server runs in production mode on a database of its own, with a patched resolver (a
``sitecustomize`` module on its ``PYTHONPATH``: no internet, no DNS server) that resolves
made-up public-looking names to 127.0.0.1, where the test listens and counts connections."""

from __future__ import annotations

import asyncio
import os
import textwrap

import pytest

from tests.support import free_port, receive, serve
from tests.webhooks.conftest import fresh_database
from tests.webhooks.test_delivery import DELETE

pytestmark = pytest.mark.asyncio(loop_scope="session")

REBOUND_HOST = "hooks.rebinding.example.com"
# a name spelled two ways: Python's resolver (IDNA 2003) looks up "ss.<suffix>", the connection
# (httpx: IDNA 2008) goes to "xn--zca.<suffix>"; the attacker's DNS answers a public address
# for the first and 127.0.0.1 for the second
TWO_WAYS = "ß.two-ways.example.com"
RESOLVER = textwrap.dedent(
    """
    import os

    import aiodns

    HOST = os.environ["INBOX_GRAPH_TEST_REBOUND_HOST"]
    ANSWERS = {
        HOST: "127.0.0.1",
        "xn--zca.two-ways.example.com": "127.0.0.1",
        "ss.two-ways.example.com": "93.184.216.34",
    }
    _getaddrinfo = aiodns.DNSResolver.getaddrinfo


    def getaddrinfo(self, host, *args, **kwargs):
        return _getaddrinfo(self, ANSWERS.get(host, host), *args, **kwargs)


    aiodns.DNSResolver.getaddrinfo = getaddrinfo
    """
)
LOG = """query($id: ID!) { webhookDeliveries(endpointId: $id) {
  nodes { statusCode error succeeded } } }"""
CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { webhookEndpoint { id } } }"""


@pytest.fixture(scope="module")
def served(server_env, tmp_path_factory):
    resolver = tmp_path_factory.mktemp("rebinding-resolver")
    (resolver / "sitecustomize.py").write_text(RESOLVER)
    path = os.pathsep.join(p for p in (str(resolver), server_env.get("PYTHONPATH", "")) if p)
    with fresh_database(tmp_path_factory) as url:
        server = serve(
            {
                **server_env,
                "DATABASE_URL": url,
                "INBOX_GRAPH_ENV": "production",
                "PYTHONPATH": path,
                "INBOX_GRAPH_TEST_REBOUND_HOST": REBOUND_HOST,
            }
        )
        yield server
        server.stop()


@pytest.mark.parametrize("host", [REBOUND_HOST, TWO_WAYS])
async def test_a_host_resolving_to_a_private_address_at_delivery_is_refused(world, host):
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    port = free_port()
    listener = await asyncio.start_server(count, "127.0.0.1", port)
    owner = world.client("owner")
    try:
        url = f"https://{host}:{port}/hooks"
        created = await owner(CREATE, {"i": {"url": url, "eventTypes": ["MESSAGE_CREATED"]}})
        endpoint = created["createWebhookEndpoint"]["webhookEndpoint"]["id"]  # the name passed
        await receive(world, "c_all", "never sent to a private address")
        deadline = asyncio.get_running_loop().time() + 15
        while not (attempts := (await owner(LOG, {"id": endpoint}))["webhookDeliveries"]["nodes"]):
            assert asyncio.get_running_loop().time() < deadline, "no attempt was recorded"
            await asyncio.sleep(0.2)
        assert attempts[0]["succeeded"] is False
        assert attempts[0]["statusCode"] is None
        assert "non-public address" in attempts[0]["error"]
        assert "127.0.0.1" not in attempts[0]["error"]  # internal DNS answers stay internal
        assert connections == 0
        await owner(DELETE, {"id": endpoint})
    finally:
        listener.close()
        await owner.aclose()
