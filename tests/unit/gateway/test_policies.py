"""Policies (issue 6): validation and Tyk's merge rules as units; then with real clients through a served gateway —
policy CRUD, keys that get their access and limits from policies, unknown and inactive policies refused,
X-RateLimit headers, quota resets and the API's skip flags."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from gateway_adapter import load_api_text
from gateway_adapter.keys import KeyError_, Session
from gateway_adapter.policies import Policy, PolicyStore, apply_policies, policy_fields

from .support import served, ws_connect
from .test_auth_keys import ADMIN, ORDER, app_with, dropping_document, problem

ORDERS = "orders-feed"


# -- units -----------------------------------------------------------------------------------------------------

def test_policy_bodies_are_checked_with_clear_messages() -> None:
    values = policy_fields({"id": "gold", "name": "Gold", "rate": 10, "per": 1, "quota_max": -1,
                            "access_rights": {"a": {"api_id": "a"}}, "tags": ["t"], "active": True,
                            # as Tyk exports them: bookkeeping and switched-off features are accepted
                            "org_id": "o", "_id": "x", "last_updated": "1", "hmac_enabled": False,
                            "throttle_interval": -1, "partitions": {"quota": False, "rate_limit": False}})
    assert values["rate"] == 10 and values["quota_max"] == -1 and "id" not in values and values["active"]
    assert policy_fields({}) == {**policy_fields({}), "quota_max": 0, "active": True, "is_inactive": False}
    bad = [
        ({"rate": "fast"}, "rate: expected int or float, got str"),
        ({"quota_max": -2}, "quota_max: -1 (unlimited)"),
        ({"per": -1}, "per: must not be negative"),
        ({"ratee": 1}, "unknown field(s) ratee"),
        ({"tags": [1]}, "tags: expected a list of strings"),
        ({"access_rights": {"a": 1}}, "access_rights.a: expected an object"),
        ({"message_rate": 5}, "message_rate and message_per: set both"),
        ({"message_rate": 1.5, "message_per": 1}, "message_rate: expected int"),
        ({"active": "yes"}, "active: expected bool"),
        ({"partitions": {"quota": True}}, "partitions: not implemented"),
        ({"throttle_interval": 10}, "throttle_interval: not implemented"),
        ({"id": "no/slash"}, "id: a policy id may contain only"),
        ([], "the body must be a JSON object"),
    ]
    for body, message in bad:
        with pytest.raises(KeyError_) as exc:
            policy_fields(body)
        assert message in str(exc.value), (body, str(exc.value))


def session(**fields: Any) -> Session:
    return Session(id="k", key_hash="h", **fields)


def test_policies_merge_as_tyk_applies_them() -> None:
    key = session(rate=1000, per=1, quota_max=5, quota_renewal_rate=60, access_rights={"own": {}},
                  tags=["key"], meta_data={"team": "a", "tier": "key"}, policies=["p", "q"])
    p = Policy("p", rate=10, per=1, quota_max=100, quota_renewal_rate=3600,
               access_rights={"a": {"api_id": "a"}}, tags=["p", "key"], meta_data={"tier": "p"},
               message_rate=5, message_per=60)
    q = Policy("q", rate=120, per=60, quota_max=50, quota_renewal_rate=7200,
               access_rights={"b": {"api_id": "b"}, "a": {"versions": ["v1"]}}, tags=["q"], meta_data={"q": 1},
               message_rate=1, message_per=1)
    merged = apply_policies(key, [p, q])
    # Access rights: the union of the policies' (the key's own are replaced when a policy lists any).
    assert merged.access_rights == {"a": {"api_id": "a", "versions": ["v1"]}, "b": {"api_id": "b"}}
    assert merged.allows("a") and merged.allows("b") and not merged.allows("own")
    # Rate: the most generous per second (10/s beats 2/s); the key's own 1000/s is replaced, not kept.
    assert (merged.rate, merged.per) == (10, 1)
    # Quota: the largest, with the largest renewal rate; message rate: the most generous (1/s beats 5/60s).
    assert (merged.quota_max, merged.quota_renewal_rate) == (100, 7200)
    assert (merged.message_rate, merged.message_per) == (1, 1)
    assert merged.tags == ["key", "p", "q"] and merged.meta_data == {"team": "a", "tier": "p", "q": 1}
    assert (key.rate, key.access_rights) == (1000, {"own": {}})  # the stored session is left alone

    unlimited = apply_policies(key, [p, Policy("u", quota_max=-1, quota_renewal_rate=60)])
    assert (unlimited.quota_max, unlimited.quota_renewal_rate) == (-1, 0)  # -1 (unlimited) beats any number
    # A policy that sets no rate (0) does not count as unlimited; none setting one means no key rate limit.
    assert (apply_policies(key, [Policy("n"), p]).rate, apply_policies(key, [Policy("n")]).rate) == (10, 0)
    # No policy lists access rights: the key keeps its own.
    assert apply_policies(key, [Policy("n")]).access_rights == {"own": {}}
    assert apply_policies(key, []) is key


def test_unknown_and_inactive_policies_are_named(run) -> None:
    async def main() -> None:
        store = PolicyStore()
        assert (await store.create(policy_fields({"rate": 1, "per": 1}), "gold")).id == "gold"
        assert await store.create(policy_fields({}), "gold") is None  # the id exists
        generated = await store.create(policy_fields({"is_inactive": True}))
        assert generated is not None and generated.id != "gold"
        await store.create(policy_fields({"active": False}), "off")
        assert await store.effective(session(policies=["gold", "nope"])) == 'policy "nope" does not exist'
        assert await store.effective(session(policies=[generated.id])) == f'policy "{generated.id}" is inactive'
        assert await store.effective(session(policies=["off"])) == 'policy "off" is inactive'
        effective = await store.effective(session(policies=["gold"]))
        assert isinstance(effective, Session) and (effective.rate, effective.per) == (1, 1)
        assert await store.update("nope", {}) is None
        assert [p.id for p in await store.list()] == sorted(["gold", "off", generated.id])

    run(main())


# -- through a served gateway -------------------------------------------------------------------------------------

async def new_policy(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"access_rights": {ORDERS: {"api_id": ORDERS}}, **fields}
    created = await client.post("/_admin/policies", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    return created.json()


async def policy_key(client: httpx.AsyncClient, *policies: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A key with no access rights of its own: everything comes from POLICIES."""
    created = await client.post("/_admin/keys", json={"alias": "p", "policies": list(policies), **fields},
                                headers=ADMIN)
    assert created.status_code == 201, created.text
    answer = created.json()
    return answer.pop("key"), answer


def test_policy_crud_through_the_management_api(run) -> None:
    app = app_with(load_api_text(dropping_document(), "orders.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            gold = await new_policy(client, id="gold", name="Gold", rate=10, per=1)
            assert (gold["id"], gold["name"], gold["rate"], gold["active"]) == ("gold", "Gold", 10, True)
            again = await client.post("/_admin/policies", json={"id": "gold"}, headers=ADMIN)
            assert 'policy with id "gold" exists' in problem(again, 409)["detail"]
            generated = await new_policy(client, name="no id given")
            assert generated["id"] and generated["id"] != "gold"
            created = await client.post("/_admin/policies", json={"id": "x"}, headers=ADMIN)
            assert created.headers["location"].endswith("/_admin/policies/x")

            listing = (await client.get("/_admin/policies", headers=ADMIN)).json()["policies"]
            assert sorted(p["id"] for p in listing) == sorted(["gold", generated["id"], "x"])
            assert (await client.get("/_admin/policies/gold", headers=ADMIN)).json() == gold

            changed = await client.put("/_admin/policies/gold", json={"name": "Gold", "rate": 20, "per": 1},
                                       headers=ADMIN)
            assert changed.status_code == 200 and changed.json()["rate"] == 20
            assert changed.json()["access_rights"] == {}  # PUT replaces every field
            mismatch = await client.put("/_admin/policies/gold", json={"id": "silver"}, headers=ADMIN)
            assert 'the URL names "gold"' in problem(mismatch, 400)["detail"]
            assert "POST /_admin/policies" in problem(await client.put("/_admin/policies/nope", json={},
                                                                       headers=ADMIN), 404)["detail"]
            bad = await client.post("/_admin/policies", json={"quota_max": "lots"}, headers=ADMIN)
            assert "quota_max: expected int" in problem(bad, 400)["detail"]
            problem(await client.post("/_admin/policies", content=b"[", headers=ADMIN), 400)
            problem(await client.get("/_admin/policies"), 401)  # the management API needs the secret

            assert (await client.delete("/_admin/policies/x", headers=ADMIN)).status_code == 204
            problem(await client.get("/_admin/policies/x", headers=ADMIN), 404)
            problem(await client.delete("/_admin/policies/x", headers=ADMIN), 404)

    run(main(), timeout=20)


def test_a_key_gets_access_and_limits_from_its_policy_and_counts_down_in_headers(run) -> None:
    app = app_with(load_api_text(dropping_document(), "orders.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            async def post(key: str) -> httpx.Response:
                return await client.post("/orders/publish", json=ORDER, headers={"authorization": key})

            await new_policy(client, id="three", rate=3, per=60)
            await new_policy(client, id="none", access_rights={})
            key, created = await policy_key(client, "three", rate=1000, per=1)  # its own rate is replaced
            assert created["access_rights"] == {}  # stored as given: the policy applies per request
            answers = [await post(key) for _ in range(3)]
            assert [r.status_code for r in answers] == [200, 200, 200]
            assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
            assert {r.headers["x-ratelimit-limit"] for r in answers} == {"3"}
            assert all(59 <= int(r.headers["x-ratelimit-reset"]) <= 60 for r in answers)
            refused = await post(key)
            assert "this API key" in problem(refused, 429)["detail"]
            assert (refused.headers["x-ratelimit-remaining"], refused.headers["x-ratelimit-limit"]) == ("0", "3")
            assert 59 <= int(refused.headers["retry-after"]) <= 60
            assert 59 <= int(refused.headers["x-ratelimit-reset"]) <= 60

            # A policy without access to this API: refused, though the key is valid.
            other, _ = await policy_key(client, "none")
            assert "no access to API orders-feed" in problem(await post(other), 403)["detail"]
            # Access rights are the union: with "three" added, it may use the API.
            both, _ = await policy_key(client, "none", "three")
            assert (await post(both)).status_code == 200

            # Unknown policies: refused when the key is created, and per request once the policy is deleted.
            unknown = await client.post("/_admin/keys", json={"policies": ["nope"]}, headers=ADMIN)
            assert 'no policy with id "nope"' in problem(unknown, 400)["detail"]
            assert (await client.delete("/_admin/policies/none", headers=ADMIN)).status_code == 204
            gone = problem(await post(both), 403)["detail"]
            assert 'policy "none" does not exist' in gone and "limit" not in gone
            # An inactive policy refuses its keys until it is active again.
            inactive = {"rate": 3, "per": 60, "access_rights": {ORDERS: {}}, "is_inactive": True}
            assert (await client.put("/_admin/policies/three", json=inactive, headers=ADMIN)).status_code == 200
            assert 'policy "three" is inactive' in problem(await post(key), 403)["detail"]

    run(main(), timeout=20)


def test_key_expires_in_and_websocket_upgrades_carry_the_headers(run) -> None:
    app = app_with(load_api_text(dropping_document(), "orders.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            await new_policy(client, id="short", key_expires_in=3600, quota_max=2, quota_renewal_rate=3600)
            before = int(time.time())
            key, created = await policy_key(client, "short")
            assert before + 3600 <= created["expires"] <= int(time.time()) + 3600
            _, explicit = await policy_key(client, "short", expires=before + 10)
            assert explicit["expires"] == before + 10  # an explicit expiry wins

            headers = {"authorization": key}
            ws = await ws_connect(f"ws://{host}/orders/publish/ws", additional_headers=headers)
            await ws.close()
            assert ws.response is not None
            assert (ws.response.headers["x-ratelimit-limit"], ws.response.headers["x-ratelimit-remaining"]) == \
                ("2", "1")
            assert 3599 <= int(ws.response.headers["x-ratelimit-reset"]) <= 3600
            assert (await client.post("/orders/publish", json=ORDER, headers=headers)).status_code == 200
            with pytest.raises(InvalidStatus) as spent:
                await ws_connect(f"ws://{host}/orders/publish/ws", additional_headers=headers)
            assert spent.value.response.status_code == 403
            assert spent.value.response.headers["x-ratelimit-remaining"] == "0"

    run(main(), timeout=20)


def test_quotas_are_reset_by_the_management_api(run) -> None:
    app = app_with(load_api_text(dropping_document(), "orders.yaml"))

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            await new_policy(client, id="two", quota_max=2, quota_renewal_rate=3600)
            key, created = await policy_key(client, "two")
            url = f"/_admin/keys/{created['id']}"

            async def spend() -> list[int]:
                return [(await client.post("/orders/publish", json=ORDER, headers={"authorization": key})).status_code
                        for _ in range(3)]

            assert await spend() == [200, 200, 403]
            assert (await client.delete(f"{url}/quota", headers=ADMIN)).status_code == 204
            assert await spend() == [200, 200, 403]
            # Tyk's way: PUT the key with ?reset_quota=1 (a PUT without it leaves the quota spent).
            same = {"alias": "p", "policies": ["two"]}
            assert (await client.put(url, json=same, headers=ADMIN)).status_code == 200
            assert (await spend())[0] == 403
            assert (await client.put(f"{url}?reset_quota=1", json=same, headers=ADMIN)).status_code == 200
            assert await spend() == [200, 200, 403]
            problem(await client.delete("/_admin/keys/nope/quota", headers=ADMIN), 404)

    run(main(), timeout=20)


SKIPPING = "    global: {skipRateLimit: true, skipQuota: true}\n"


def test_an_api_can_skip_key_rate_limits_and_quotas(run) -> None:
    document = dropping_document().replace("  upstream:\n", "  middleware:\n" + SKIPPING + "  upstream:\n")
    document = document.replace("requests: 100, per: 1s", "requests: 4, per: 60s")
    skipping = load_api_text(document, "skipping.yaml")
    assert (skipping.skip_rate_limit, skipping.skip_quota) == (True, True)
    assert not [w for w in skipping.warnings if "skip" in w.message]
    app = app_with(skipping)

    async def main() -> None:
        async with served(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=5) as client:
            await new_policy(client, id="tight", rate=1, per=60, quota_max=1, quota_renewal_rate=3600)
            key, _ = await policy_key(client, "tight")
            answers = [await client.post("/orders/publish", json=ORDER, headers={"authorization": key})
                       for _ in range(5)]
            # The key's 1/60s and quota of 1 are not counted; the API's own 4 per 60s still is.
            assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
            assert "API orders-feed" in problem(answers[-1], 429)["detail"]
            assert [r.headers["x-ratelimit-remaining"] for r in answers[:4]] == ["3", "2", "1", "0"]

    run(main(), timeout=20)
