"""The KuCoin checks: the master key (who-am-I: isMaster, General, nothing more) and KuCoin's clock."""

from __future__ import annotations

from bot import config
from bot.domain.keys import Permission
from bot.errors import KucoinAuthError, KucoinError, KucoinUnavailable, KucoinUntrusted
from bot.kucoin.wire import WIRE_PERMISSION
from bot.preflight.context import Context
from bot.preflight.results import CheckResult, fail, ok, skew_result, skip, untrusted_fix, warn

KUCOIN_VARIABLES = ("KUCOIN_API_URL", "KUCOIN_API_KEY", "KUCOIN_API_SECRET", "KUCOIN_API_PASSPHRASE")
# Managing sub-account keys needs General on the master key; kukey never trades or moves funds with it.
NEEDED = frozenset({WIRE_PERMISSION[Permission.GENERAL]})


def check_kucoin_key(ctx: Context) -> CheckResult:
    name = "kucoin key"
    settings = ctx.config.settings(KUCOIN_VARIABLES, need=[config.KUCOIN])
    try:
        info = ctx.kucoin(settings).whoami()
    except KucoinAuthError as exc:
        return fail(name, str(exc), "check KUCOIN_API_KEY, KUCOIN_API_SECRET and KUCOIN_API_PASSPHRASE (and the "
                                    "key's IP whitelist) against the master account's API key")
    except KucoinUntrusted as exc:
        ctx.unreachable.add("kucoin")
        return fail(name, str(exc), untrusted_fix(f"KUCOIN_API_URL ({settings.kucoin_api_url})"))
    except KucoinUnavailable as exc:
        ctx.unreachable.add("kucoin")
        return fail(name, str(exc), f"check KUCOIN_API_URL ({settings.kucoin_api_url}) and the network")
    except KucoinError as exc:
        return fail(name, str(exc), "check the master account's API key on KuCoin")
    if not info.is_master:
        return fail(name, f"key {info.api_key} is a sub-account key, not the master account's",
                    "create an API key on the master account (with General) and set KUCOIN_API_* to it")
    if not info.has_general:
        return fail(name, f"master key {info.api_key} lacks the General permission "
                          f"(has {', '.join(sorted(info.permissions)) or 'none'})",
                    "edit the master API key on KuCoin and enable General (sub-account key management)")
    extra = sorted(info.permissions - NEEDED)
    if extra:
        return warn(name, f"master key {info.api_key} (uid {info.uid}) has more than kukey needs: "
                          f"{', '.join(extra)}",
                    "edit the master API key on KuCoin and keep only General: kukey never trades or moves funds "
                    "with it, and a leaked key can do whatever it allows")
    return ok(name, f"master key {info.api_key} (uid {info.uid}) with General only")


def check_kucoin_clock(ctx: Context) -> CheckResult:
    """The host's clock against KuCoin's /api/v1/timestamp (milliseconds, from the midpoint of the call, known
    to within half its round trip)."""
    name = "kucoin clock"
    settings = ctx.config.reported_elsewhere(("KUCOIN_API_URL",))
    if "kucoin" in ctx.unreachable or settings is None:
        return skip(name, "needs an answer from KuCoin (see kucoin key)")
    try:
        reading = ctx.kucoin(settings).sync_clock()
    except KucoinError as exc:
        return fail(name, f"cannot read KuCoin's time: {exc}",
                    f"check KUCOIN_API_URL ({settings.kucoin_api_url}) and the network")
    return skew_result(name, reading.offset_ms / 1000, reading.uncertainty_ms / 1000, "KuCoin")
