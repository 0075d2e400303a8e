"""What log lines must never hold, and the `Redactor` that takes it out of every field of every line.

A Redactor is built once at start from the configured secrets (`Redactor.for_settings`) and installed by
`configure_logging` as a structlog processor; it holds no state that changes. It replaces with MASK:
  * the configured values: master key, Slack bot and app tokens, signing secret, KuCoin API secret and
    passphrase, the audit stream's signing secret and target URL (which may hold a credential: also its
    path and password on their own), also URL-encoded;
  * Slack response URLs (any hooks.slack.com URL, and any .../commands|actions/<team>/<id>/<secret>
    path, also URL-encoded or JSON-escaped) and trigger ids (digits.digits.hex): whoever holds one can
    post to that person or open a dialog for 30 minutes;
  * Slack tokens (xox?-..., xapp-...), otpauth:// URIs, UUIDs (KuCoin API secrets are UUIDs), base32
    TOTP seeds (16+ of [A-Z2-7]), 44-character base64 (KC-API-SIGN, signed passphrases, master keys);
  * `name=value` / `name: value` / `"name": "value"` where the name says passphrase, secret, token,
    password, signature, seed, trigger_id or response_url (plus `code=` and Socket Mode's `ticket=` in
    query strings);
  * every field whose name says it holds a secret (bot.domain.secret.is_secret_name, trigger_id,
    response_url), and every `Secret`.
Written here, not taken from a library: what counts as a secret is kukey's own (its settings, Slack's
URL and id shapes), and structlog leaves redaction to a processor of the application's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, quote_plus

from bot.audit_stream.target import secret_parts
from bot.domain.secret import Secret, is_secret_name

if TYPE_CHECKING:
    from bot.config import Settings

MASK: Final = "**redacted**"
MIN_SECRET_LEN: Final = 4  # shorter configured values would blank out ordinary words

_SLASH: Final = r"(?:/|%2[Ff]|\\/)"  # a slash as written in a URL, a form body or a JSON string
_SHAPES: Final = (
    re.compile(rf"(?:https?(?::|%3[Aa]){_SLASH}{_SLASH})?hooks\.slack\.com[^\s\"'<>&,;)\]}}]*", re.IGNORECASE),
    re.compile(rf"(?:https?://[^\s/\"'<>]+)?{_SLASH}(?:commands|actions){_SLASH}[A-Z][A-Z0-9]+{_SLASH}[0-9]+"
               rf"{_SLASH}[A-Za-z0-9_-]+"),
    re.compile(r"(?<![\w.])[0-9]+\.[0-9]+\.[0-9a-f]{16,}(?![\w.])"),  # a trigger id
    re.compile(r"\bxox[abprse]-[A-Za-z0-9-]+"),
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    re.compile(r"otpauth://\S+", re.IGNORECASE),
    re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"),
    re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}=*(?![A-Za-z0-9])"),
)
# name=value, name: value, "name": "value", ?code=value: keep the name, drop the value.
_NAMED: Final = re.compile(
    r"""(?ix)
    ( (?: \b\w*(?:passphrase|secret|token|password|signature|seed)\w* | \bsign | \btrigger_id
          | \bresponse_urls? | (?<=[?&])(?:code|ticket) )
      ["']? \s* [:=] \s* )
    (?: b?"[^"]*" | b?'[^']*' | [^\s"'&,;})\]]+ )
    """
)
_SLACK_NAMES: Final = frozenset({"trigger_id", "response_url", "response_urls"})


def is_sensitive_name(name: str) -> bool:
    """True for a field whose value is never logged: a secret's name, a trigger id, a response URL."""
    return is_secret_name(name) or name.lower() in _SLACK_NAMES


class Redactor:
    """Masks configured secret values and secret-shaped text; also a structlog processor (`__call__`)."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str | Secret | bytes | None] = ()) -> None:
        texts: set[str] = set()
        for value in values:
            text = _text(value)
            if text is not None and len(text) >= MIN_SECRET_LEN:
                texts |= {text, quote(text, safe=""), quote_plus(text)}
        ordered = sorted(texts, key=len, reverse=True)  # the longest first, so no part of one is left over
        self._values = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        """A Redactor for every secret kukey is configured with."""
        return cls([settings.master_key, settings.slack_bot_token, settings.slack_app_token,
                    settings.slack_signing_secret, settings.kucoin_api_secret, settings.kucoin_api_passphrase,
                    settings.audit_forward_secret, *secret_parts(settings.audit_forward)])

    def redact(self, text: str) -> str:
        """`text` with every configured value and every secret-shaped string replaced by the mask."""
        if self._values is not None:
            text = self._values.sub(MASK, text)
        text = _NAMED.sub(lambda m: m.group(1) + MASK, text)
        for pattern in _SHAPES:
            text = pattern.sub(MASK, text)
        return text

    def scrub(self, value: Any) -> Any:
        """A JSON-friendly copy of `value` with secrets masked (mapping fields by name and by content)."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {str(k): MASK if is_sensitive_name(str(k)) else self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(v) for v in value]
        return self.redact(str(value))

    def __call__(self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        """The structlog processor: every field of the line, scrubbed (message, extras, exception, stack)."""
        for name, value in list(event_dict.items()):
            event_dict[name] = MASK if is_sensitive_name(name) else self.scrub(value)
        return event_dict


def _text(value: str | Secret | bytes | None) -> str | None:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
