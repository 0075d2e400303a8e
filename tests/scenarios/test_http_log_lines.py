"""At INFO, each KuCoin call is logged once, by kukey (with its KuCoin code and time), and a response_url post
not at all: httpx's own line per request is left out."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.logs import Redactor
from kukey_sandbox.world import APPROVER, REQUESTER, KukeyWorld, Story
from tests.logs.capture import captured_logs, json_lines


def test_a_kucoin_call_and_a_response_url_post_leave_kukeys_line_and_no_httpx_line(tmp_path: Path) -> None:
    """Creating and revealing a key at INFO (KuCoin calls, the secret posted to a response_url) logs kukey's
    "kucoin POST /api/v1/sub/api-key ... in N ms" line and no line of httpx or httpcore."""
    with KukeyWorld(home=tmp_path, run_bot=False) as world, \
            captured_logs("INFO", Redactor.for_settings(Settings.from_env(world.env()))) as stream:
        world.start_bot()
        for user in (REQUESTER, APPROVER):
            world.enroll(user)
        key = Story(world).create_key()
        world.stop_bot()
    assert key in {k["api_key"] for k in world.sandbox.keys("alpha-trading")}
    assert any(url.uses for url in world.fake.world.response_urls.values()), "no response_url post"
    lines = json_lines(stream.getvalue())
    kucoin = [str(line["msg"]) for line in lines if line["logger"] == "bot.kucoin"]
    assert any(msg.startswith("kucoin POST /api/v1/sub/api-key -> 200000 (HTTP 200) in ") and msg.endswith(" ms")
               for msg in kucoin), kucoin
    assert not [line for line in lines if str(line["logger"]).startswith(("httpx", "httpcore"))]
