"""Password hashes (``db.security``): made with OWASP's argon2id parameters, and a hash made
with older parameters is replaced at the user's next successful login, not at a failed one."""

from __future__ import annotations

from argon2 import PasswordHasher

from tests.conftest import PASSWORD, login
from tests.support import Client, sql

TODAY = "$argon2id$v=19$m=19456,t=2,p=1$"


async def test_a_hash_with_older_parameters_is_replaced_at_the_next_login(world) -> None:
    url = world.served.env["DATABASE_URL"]
    email = f"agent_all@{world.domain}"
    where = f"FROM \"user\" WHERE email = '{email}'"
    assert sql(url, f"SELECT password_hash {where}").startswith(TODAY)

    # a user whose password was hashed by argon2-cffi's former default (64 MiB, 4 lanes)
    older = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)
    sql(url, f"UPDATE \"user\" SET password_hash = '{older}' WHERE email = '{email}'")

    refused = await world.client(None).raw(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": email, "p": "not the password"},
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert sql(url, f"SELECT password_hash {where}") == older

    token = await login(world.served, email, PASSWORD)
    assert await Client(world.served, token)("{ me { email } }") == {"me": {"email": email}}
    rehashed = sql(url, f"SELECT password_hash {where}")
    assert rehashed.startswith(TODAY)
    assert rehashed != older
    await login(world.served, email, PASSWORD)  # the new hash verifies the same password
