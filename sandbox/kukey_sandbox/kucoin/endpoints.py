"""The sandbox's private endpoints: each takes the calling key, the request and the time, returns `data`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kukey_sandbox.kucoin.state import (
    ApiError,
    Key,
    World,
    bad,
    check_expire,
    check_ips,
    check_passphrase,
    check_remark,
    granted_permissions,
    new_key_id,
    new_secret,
)


@dataclass(frozen=True)
class Call:
    """What an endpoint sees of a request: query pairs (decoded, in order) and the JSON body."""

    caller: Key
    query: dict[str, str]
    body: dict[str, Any]
    now_ms: int


Handler = Callable[[World, Call], Any]


@dataclass(frozen=True)
class Route:
    handler: Handler
    weight: int
    master_only: bool = True


def _need_master(call: Call) -> None:
    if not call.caller.is_master:
        raise ApiError("400007", "Access denied, require more permission.")


def create_key(world: World, call: Call) -> dict[str, Any]:
    b = call.body
    with world.lock:
        sub = world.sub_of(call.caller, b.get("subName"))
        passphrase = check_passphrase(b.get("passphrase"))
        remark = check_remark(b.get("remark"))
        perms = granted_permissions(b.get("permission"), sub)
        ips = check_ips(b.get("ipWhitelist"))
        expire = check_expire(b.get("expire"))
        if sub.status != 2:
            raise bad("Sub-account is frozen")
        if len(sub.keys) >= world.max_keys:
            raise bad(f"A sub-account can hold at most {world.max_keys} API keys")
        key = Key(api_key=new_key_id(), api_secret=new_secret(), passphrase=passphrase,
                  master_uid=sub.master_uid, uid=sub.uid, sub_name=sub.name, remark=remark, permissions=perms,
                  ips=ips, expire=expire, created_at=call.now_ms)
        world.keys[key.api_key] = key
        sub.keys[key.api_key] = key
    return {"subName": sub.name, "remark": remark, "apiKey": key.api_key, "apiSecret": key.api_secret,
            "apiVersion": 3, "passphrase": passphrase, "permission": ",".join(perms),
            "ipWhitelist": ",".join(ips), "createdAt": key.created_at}


def modify_key(world: World, call: Call) -> dict[str, Any]:
    b = call.body
    with world.lock:
        sub = world.sub_of(call.caller, b.get("subName"))
        key = world.key_of(sub, b.get("apiKey"), b.get("passphrase"))
        perms = granted_permissions(b.get("permission"), sub)
        ips = check_ips(b.get("ipWhitelist"))
        expire = check_expire(b.get("expire"))
        if sub.status != 2:
            raise bad("Sub-account is frozen")
        key.permissions, key.ips, key.expire = perms, ips, expire
    return {"subName": sub.name, "apiKey": key.api_key, "permission": ",".join(perms),
            "ipWhitelist": ",".join(ips)}


def list_keys(world: World, call: Call) -> list[dict[str, Any]]:
    with world.lock:
        sub = world.sub_of(call.caller, call.query.get("subName"))
        wanted = call.query.get("apiKey")
        return [k.listing() for k in sub.keys.values() if not wanted or k.api_key == wanted]


def delete_key(world: World, call: Call) -> dict[str, Any]:
    q = call.query
    with world.lock:
        sub = world.sub_of(call.caller, q.get("subName"))
        key = world.key_of(sub, q.get("apiKey"), q.get("passphrase"))
        world.remove(sub, key.api_key)
    return {"subName": sub.name, "apiKey": key.api_key}


def list_sub_accounts(world: World, call: Call) -> dict[str, Any]:
    try:
        page = int(call.query.get("currentPage", "1"))
        size = int(call.query.get("pageSize", "10"))
    except ValueError:
        raise bad("currentPage and pageSize must be integers") from None
    if page < 1 or not 1 <= size <= 100:
        raise bad("pageSize must be 1-100 and currentPage at least 1")
    with world.lock:
        subs = sorted((s for s in world.subs.values() if s.master_uid == call.caller.master_uid),
                      key=lambda s: (s.created_at, s.name))
        items = [s.summary() for s in subs[(page - 1) * size: page * size]]
    return {"currentPage": page, "pageSize": size, "totalNum": len(subs),
            "totalPage": math.ceil(len(subs) / size), "items": items}


def whoami(world: World, call: Call) -> dict[str, Any]:
    data = call.caller.listing()
    del data["subName"]
    return data


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/api/v1/sub/api-key"): Route(create_key, 20),
    ("POST", "/api/v1/sub/api-key/update"): Route(modify_key, 30),
    ("GET", "/api/v1/sub/api-key"): Route(list_keys, 20),
    ("DELETE", "/api/v1/sub/api-key"): Route(delete_key, 30),
    ("GET", "/api/v2/sub/user"): Route(list_sub_accounts, 20),
    ("GET", "/api/v1/user/api-key"): Route(whoami, 20, master_only=False),
}
PUBLIC_ROUTES: dict[tuple[str, str], int] = {("GET", "/api/v1/timestamp"): 3}


def dispatch(world: World, route: Route, call: Call) -> Any:
    if route.master_only:
        _need_master(call)
    return route.handler(world, call)
