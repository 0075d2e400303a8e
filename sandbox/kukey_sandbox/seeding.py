"""Keys made before a story starts: created at the KuCoin sandbox through kukey's KuCoin client and, unless
told otherwise, recorded in kukey's database as if kukey had made them (passphrase sealed with the master
key, aad "key:<api_key>"), so that a revoke or a benchmark has many keys without as many lifecycles."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from bot.domain.clock import Clock, SystemClock
from bot.domain.keys import KeySpec, Permission, format_permissions
from bot.domain.secret import Secret
from bot.kucoin.client import KucoinClient
from bot.kucoin.models import generate_passphrase
from bot.security.crypto import SecretBox
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import KeyRecord
from kukey_sandbox.world import RESPONDER, KukeyWorld


def seed_keys(world: KukeyWorld, sub: str, count: int, *, clock: Clock | None = None, record: bool = True,
              remark: str = "SEED") -> dict[str, Secret]:
    """`count` keys in `sub` at the sandbox (and in kukey's database if `record`); their passphrases."""
    creds = world.sandbox.master_credentials
    box = SecretBox(base64.b64decode(world.master_key))
    spec = KeySpec(sub, frozenset({Permission.GENERAL, Permission.SPOT}), ("203.0.113.5",), None)
    engine = make_engine(world.database_url)
    made: dict[str, Secret] = {}
    try:
        init_db(engine)
        with KucoinClient(base_url=world.sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                          api_passphrase=creds.api_passphrase, clock=clock or SystemClock()) as client:
            for i in range(count):
                passphrase = generate_passphrase()
                key = client.create_key(spec, passphrase=passphrase, remark=f"{remark}-{sub[:5]}-{i}")
                made[key.api_key] = passphrase
                if record:
                    with session_scope(engine) as s:
                        s.add(KeyRecord(api_key=key.api_key, sub_account=sub, remark=key.remark,
                                        permissions=format_permissions(spec.permissions), ips=",".join(spec.ips),
                                        created_at=datetime.now(UTC),
                                        passphrase_enc=box.encrypt(passphrase, aad=f"key:{key.api_key}"),
                                        requested_by=RESPONDER, state="active"))
    finally:
        engine.dispose()
    return made
