"""The /kukey parser: exact commands for good input, exact messages for bad input, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.commands import (
    ANSWERED_AT_ONCE,
    MAX_TEXT,
    Audit,
    Cancel,
    Create,
    Enroll,
    Help,
    List,
    Pending,
    Revoke,
    RevokeEverything,
    Rotate,
    Status,
    Update,
    form_reason,
    is_request_id,
    new_request_id,
    subcommand,
)
from bot.domain.commands import parse as parse_any
from bot.domain.exchange import KeyIds
from bot.domain.keys import KeySpec, Permission
from bot.domain.text import slack_length
from bot.domain.usage import USAGE, help_text
from bot.errors import UsageError
from bot.kucoin.exchange import KucoinExchange

KUCOIN_IDS = KucoinExchange.key_ids


def parse(text: str, **kwargs: object) -> object:
    """The parser as kukey runs it on KuCoin: the exchange's key-id shape."""
    return parse_any(text, key_ids=KUCOIN_IDS, **kwargs)  # type: ignore[arg-type]

G, S, F, M, IT = (Permission.GENERAL, Permission.SPOT, Permission.FUTURES, Permission.MARGIN,
                  Permission.INNER_TRANSFER)
KEY = "5f1e7b3c2d4a6b0008a1b2c3"
SUBS = ("alice01", "bob-bot-02", "Treasury01")


def spec(sub: str = "alice01", perms: frozenset[Permission] = frozenset(), ips: tuple[str, ...] = (),
         expire: int | None = None) -> KeySpec:
    return KeySpec(sub, frozenset(perms) | {G}, ips, expire)


GOOD = [
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("HELP me", Help()),
    ("--help", Help()),
    ("create", Create(spec=None)),
    (" Create ", Create(spec=None)),
    ("create alice01", Create(spec())),
    ("create alice01 perms=spot,FUTURES", Create(spec(perms=frozenset({S, F})))),
    ("create alice01 perms=General", Create(spec())),
    ("create alice01 permissions=Margin,InnerTransfer", Create(spec(perms=frozenset({M, IT})))),
    ("create alice01 perms=Spot, Futures", Create(spec(perms=frozenset({S, F})))),
    ("create alice01 ips=203.0.113.5,198.51.100.0", Create(spec(ips=("203.0.113.5", "198.51.100.0")))),
    ("create alice01 ips=203.0.113.5,203.0.113.5", Create(spec(ips=("203.0.113.5",)))),
    ("create alice01 ips=2001:DB8::1,10.0.0.0/8", Create(spec(ips=("2001:db8::1", "10.0.0.0/8")))),
    ("create alice01 ips=<http://203.0.113.5|203.0.113.5>", Create(spec(ips=("203.0.113.5",)))),
    ("create alice01 ips=<http://203.0.113.5>", Create(spec(ips=("203.0.113.5",)))),
    ("create alice01 ips=<mailto:x@203.0.113.5|203.0.113.5>,<https://198.51.100.7|198.51.100.7>",
     Create(spec(ips=("203.0.113.5", "198.51.100.7")))),
    ("create alice01 expire=90", Create(spec(expire=90))),
    ("create alice01 expire=30d", Create(spec(expire=30))),
    ("create alice01 expire=never", Create(spec())),
    ("create alice01 perms=Spot ips=203.0.113.5 expire=180 market making bot",
     Create(spec(perms=frozenset({S}), ips=("203.0.113.5",), expire=180), reason="market making bot")),
    ("create alice01 market perms=Spot making", Create(spec(perms=frozenset({S})), reason="market making")),
    ("create alice01 perms=Spot dry-run", Create(spec(perms=frozenset({S})), dry_run=True)),
    ("create alice01 dry-run perms=Spot why", Create(spec(perms=frozenset({S})), "why", dry_run=True)),
    ("create alice01 because DRY-RUN tests", Create(spec(), "because tests", dry_run=True)),
    ("create alice01 \u2014dry-run", Create(spec(), dry_run=True)),
    ("create alice01 \u201cquoted reason\u201d", Create(spec(), reason="quoted reason")),
    ("create alice01 perms=\u201cSpot,Margin\u201d", Create(spec(perms=frozenset({S, M})))),
    ("create\u00a0alice01\u00a0perms=Spot", Create(spec(perms=frozenset({S})))),
    ("create alice01\tperms=Spot\nnew\x07 bot", Create(spec(perms=frozenset({S})), reason="new bot")),
    ("cre\u200bate alice01", Create(spec())),
    ("create alice01 R&amp;D &lt;test&gt;", Create(spec(), reason="R&D <test>")),
    ("rotate alice01 " + KEY, Rotate("alice01", KEY)),
    ("rotate alice01 " + KEY.upper() + " grace=60 quarterly", Rotate("alice01", KEY, 60, "quarterly")),
    ("rotate alice01 " + KEY + " grace=2h", Rotate("alice01", KEY, 120)),
    ("rotate alice01 " + KEY + " grace=0", Rotate("alice01", KEY, 0)),
    ("revoke alice01 " + KEY + " leaked in a log", Revoke("alice01", KEY, False, "leaked in a log")),
    ("revoke alice01 ALL", Revoke("alice01", None, True)),
    ("revoke everything", RevokeEverything()),
    ("revoke Everything master credentials leaked", RevokeEverything("master credentials leaked")),
    ("revoke everything all", Revoke("everything", None, True)),  # a sub-account of that name
    ("revoke everything " + KEY, Revoke("everything", KEY)),
    ("update alice01 " + KEY + " ips=198.51.100.7", Update("alice01", KEY, None, ("198.51.100.7",))),
    ("update alice01 " + KEY.upper() + " perms=Spot,Futures new bot",
     Update("alice01", KEY, frozenset({G, S, F}), None, "new bot")),
    ("update alice01 " + KEY + " ip=203.0.113.5, 198.51.100.0/24 permissions=General moved",
     Update("alice01", KEY, frozenset({G}), ("203.0.113.5", "198.51.100.0/24"), "moved")),
    ("list", List()),
    ("LIST alice01", List("alice01")),
    ("pending", Pending()),
    ("status KK-7F3Q9C2M", Status("KK-7F3Q9C2M")),
    ("status kk-7f3q9c2m", Status("KK-7F3Q9C2M")),
    ("cancel `KK-7F3Q9C2M`", Cancel("KK-7F3Q9C2M")),
    ("enroll", Enroll()),
    ("audit", Audit()),
    ("audit 50", Audit(50)),
    ("audit alice01", Audit(20, "alice01")),
    ("audit 200 alice01", Audit(200, "alice01")),
    ("audit alice01 1", Audit(1, "alice01")),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_input_parses_to_exact_command(text: str, expected: object) -> None:
    """Each well-formed command text becomes exactly the expected typed command."""
    assert parse(text) == expected


CREATE, ROTATE, REVOKE, UPDATE = USAGE["create"], USAGE["rotate"], USAGE["revoke"], USAGE["update"]
BAD = [
    ("update alice01 " + KEY, "Nothing to change: give `perms=`, `ips=` or both.", UPDATE),
    ("update alice01 " + KEY + " new server", "Nothing to change: give `perms=`, `ips=` or both.", UPDATE),
    ("update alice01", "Missing apiKey: the key to change (see `list`).", UPDATE),
    ("update", "Missing sub-account and apiKey.", UPDATE),
    ("update alice01 " + KEY + " ips=203.0.113.300",
     "`203.0.113.300` is not an IPv4 or IPv6 address or CIDR network.", UPDATE),
    ("update alice01 " + KEY + " perms=Spot,Fish",
     "Unknown permission `Fish`: choose from General, Spot, Futures, Margin, InnerTransfer.", UPDATE),
    ("update alice01 " + KEY + " perms=Withdraw", "Sub-account API keys can never have the Transfer "
     "(withdrawal) permission: KuCoin allows it only on master-account keys. InnerTransfer moves funds between "
     "your own accounts.", UPDATE),
    ("update alice01 " + KEY + " expire=30", "Unknown option `expire=`: `update` takes `perms=`, `ips=`.", UPDATE),
    ("update alice01 " + KEY + " dry-run", "`dry-run` only works with `create`, not `update`.", UPDATE),
    ("update alice01 " + KEY[:-1] + " ips=203.0.113.5",
     f"`{KEY[:-1]}` is not KuCoin's apiKey: those are 24 hexadecimal characters.", UPDATE),
    ("updat alice01", "Unknown command `updat`. Did you mean `update`?", None),
    ("creat alice01", "Unknown command `creat`. Did you mean `create`?", None),
    ("frobnicate", "Unknown command `frobnicate`. Try `/kukey help`.", None),
    ("create perms=Spot", "Missing sub-account: it comes first, e.g. `create alice01 perms=Spot`.", CREATE),
    ("create dry-run", "Missing sub-account: it comes before `dry-run`, e.g. "
                       "`/kukey create alice01 perms=Spot dry-run`.", CREATE),
    ("create alice01 perms=Spot,Fish", "Unknown permission `Fish`: choose from General, Spot, Futures, "
                                       "Margin, InnerTransfer.", CREATE),
    ("create alice01 perms=Transfer", "Sub-account API keys can never have the Transfer (withdrawal) "
     "permission: KuCoin allows it only on master-account keys. InnerTransfer moves funds between your "
     "own accounts.", CREATE),
    ("create alice01 ips=300.1.1.1", "`300.1.1.1` is not an IPv4 or IPv6 address or CIDR network.", CREATE),
    ("create alice01 ips=" + ",".join(f"10.0.0.{i}" for i in range(21)),
     "Too many IPs: 21 given, KuCoin allows at most 20 per key.", CREATE),
    ("create alice01 ips=,", "Option `ips=` has no address.", CREATE),
    ("create alice01 expire=45", "Expiry must be 30, 90, 180 or 360 (days) or never, got `45`.", CREATE),
    ("create alice01 " + "x" * 301, "Reason is too long: at most 300 characters.", CREATE),
    ("create alice01 " + "\U0001f525" * 151, "Reason is too long: at most 300 characters (an emoji counts as two).",
     CREATE),
    ("revoke alice01 all " + "\U0001f525" * 300,
     "Reason is too long: at most 300 characters (an emoji counts as two).", REVOKE),
    ("create alice01 foo=bar", "Unknown option `foo=`: `create` takes `perms=`, `ips=`, `expire=`.", CREATE),
    ("create alice01 perms=Spot permissions=Spot", "Option `perms=` is given twice: give it once.", CREATE),
    ("create alice01 perms=", "Option `perms=` has no value.", CREATE),
    ("create al!ce", "`al!ce` is not a sub-account name (letters, digits, `_.-`, at most 32 characters).",
     CREATE),
    ("create <@U123ABC>", "`\u2039@U123ABC\u203a` is not a sub-account name (letters, digits, `_.-`, "
                          "at most 32 characters).", CREATE),
    ("rotate alice01", "Missing apiKey: the key to replace (see `list`).", ROTATE),
    ("rotate", "Missing sub-account and apiKey.", ROTATE),
    ("rotate alice01 12345", "`12345` is not KuCoin's apiKey: those are 24 hexadecimal characters.", ROTATE),
    ("rotate alice01 " + KEY + " grace=10081",
     "Grace must be from 0 to 10080 minutes (7 days), got 10081.", ROTATE),
    ("rotate alice01 " + KEY + " grace=soon", "Grace must be minutes from 0 to 10080, got `soon`.", ROTATE),
    ("rotate alice01 " + KEY + " expire=30", "Unknown option `expire=`: `rotate` takes `grace=`.", ROTATE),
    ("revoke alice01", "Missing apiKey (or `all` for every key of the sub-account).", REVOKE),
    ("revoke alice01 " + KEY + " grace=5", "Unknown option `grace=`: `revoke` takes no options.", REVOKE),
    ("revoke alice01 all dry-run", "`dry-run` only works with `create`, not `revoke`.", REVOKE),
    ("list alice01 bob-bot-02", "Too many arguments for `list`: `bob-bot-02` is not expected.",
     USAGE["list"]),
    ("pending now", "Too many arguments for `pending`: `now` is not expected.", USAGE["pending"]),
    ("status", "Missing request id, e.g. `KK-7F3Q9C2M`.", USAGE["status"]),
    ("cancel KK-123", "`KK-123` is not a request id: they look like `KK-7F3Q9C2M`.", USAGE["cancel"]),
    ("audit 0", "The number of events must be from 1 to 200, got 0.", USAGE["audit"]),
    ("audit 201", "The number of events must be from 1 to 200, got 201.", USAGE["audit"]),
    ("audit -5", "The number of events must be a whole number from 1 to 200, got `-5`.", USAGE["audit"]),
    ("audit 5 6", "`audit` takes at most one number and one sub-account.", USAGE["audit"]),
    ("x" * (MAX_TEXT + 1), f"The command is too long: {MAX_TEXT + 1} characters, at most {MAX_TEXT}.", None),
]


@pytest.mark.parametrize(("text", "message", "usage"), BAD)
def test_bad_input_gets_a_specific_message(text: str, message: str, usage: str | None) -> None:
    """Each kind of mistake raises UsageError with its own message and the form of that subcommand."""
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert str(caught.value) == message
    if usage is not None:
        assert caught.value.usage == usage
    else:
        assert "/kukey create" in caught.value.usage


KNOWN = [
    ("create alice01", Create(spec())),
    ("create ALICE01", Create(spec())),
    ("create treasury01 perms=InnerTransfer", Create(spec("Treasury01", frozenset({IT})))),
    ("list bob-bot-02", List("bob-bot-02")),
    ("audit 5 alice01", Audit(5, "alice01")),
]


@pytest.mark.parametrize(("text", "expected"), KNOWN)
def test_known_sub_accounts_resolve_to_their_exact_names(text: str, expected: object) -> None:
    """With the list of sub-accounts, names are matched exactly or case-insensitively to the real name."""
    assert parse(text, sub_accounts=SUBS) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("create alise01", "Unknown sub-account `alise01`. Did you mean `alice01`?"),
    ("list zzzzzzzz", "Unknown sub-account `zzzzzzzz`."),
    ("revoke bob-bot-2 all", "Unknown sub-account `bob-bot-2`. Did you mean `bob-bot-02`?"),
])
def test_unknown_sub_account_suggests_the_closest(text: str, message: str) -> None:
    """A sub-account not in the known list is refused, naming the closest real one when there is one."""
    with pytest.raises(UsageError, match=r"^Unknown sub-account") as caught:
        parse(text, sub_accounts=SUBS)
    assert str(caught.value) == message


def test_reasons_are_counted_as_slack_counts_them() -> None:
    """A reason may hold 300 UTF-16 code units (what a Slack input of max_length 300 lets people type): 300
    letters or 150 emoji; the same rule holds for reasons typed into a form."""
    fire = "\U0001f525"
    assert slack_length("a" + fire) == 3
    assert parse("revoke alice01 all " + fire * 150) == Revoke("alice01", None, True, fire * 150)
    assert parse("create alice01 " + "x" * 300) == Create(spec(), reason="x" * 300)
    assert form_reason("  " + fire * 150 + " ") == fire * 150
    with pytest.raises(UsageError, match=r"^Reason is too long: at most 300 characters \(an emoji"):
        form_reason(fire * 151)


def test_echoed_input_is_shortened() -> None:
    """A very long bad token is quoted back shortened, not in full."""
    with pytest.raises(UsageError) as caught:
        parse("create alice01 perms=" + "Q" * 500)
    assert "Q" * 39 + "\u2026" in str(caught.value) and "Q" * 40 not in str(caught.value)


def test_request_ids_are_well_formed_unique_and_fit_the_kucoin_remark() -> None:
    """new_request_id makes KK- and 8 Crockford base32 characters; is_request_id accepts any case."""
    ids = {new_request_id() for _ in range(500)}
    assert len(ids) == 500
    for rid in ids:
        assert is_request_id(rid) and is_request_id(rid.lower())
        assert len(rid) == 11 <= 24
        assert not set(rid[3:]) & set("ILOU")
    assert not is_request_id("KK-7F3Q9C2") and not is_request_id("KK-7F3Q9C2I") and not is_request_id("x")


def test_help_lists_every_command_with_an_example_under_slack_limits() -> None:
    """The help text names every subcommand's form, and fits a Slack section block."""
    text = help_text()
    assert len(text) < 3000
    for usage in USAGE.values():
        assert usage in text
    assert "/kukey create alice01 perms=Spot" in text


def test_help_mentions_the_home_tab() -> None:
    """`/kukey help` tells people about kukey's Home tab and what they can do there."""
    text = help_text()
    assert "*Home tab*" in text and "*Rotate*" in text and "*Approve*" in text


def test_help_mentions_the_reminders() -> None:
    """`/kukey help` says that kukey reminds people of expiring keys and keys due for rotation."""
    assert "*Reminders*: kukey tells you by direct message, once, before your key expires" in help_text()


# ---------------------------------------------------------------------------------------------------------
# Properties

WORDS = st.sampled_from(["create", "rotate", "revoke", "list", "pending", "status", "cancel", "enroll",
                         "audit", "help", "CREATE", "dry-run", "all", "alice01", KEY, "KK-7F3Q9C2M",
                         "perms=", "ips=", "expire=", "grace=", "Spot", "Transfer", ",", "90", "never",
                         "203.0.113.5", "2001:db8::/32", "<http://1.2.3.4|1.2.3.4>", "\u201c", "\u00a0",
                         "&lt;", "=", "<", ">", "|", "`", "-1", "0", "10080", "1e9", "\u0663"])
TOKENS = st.one_of(WORDS, st.text(max_size=12),
                   st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["perms", "ips", "expire", "grace",
                                                                       "x", "PERM"]),
                             st.text(max_size=20)))
STRUCTURED = st.lists(TOKENS, max_size=12).map(" ".join)


def _parses_or_usage_error(text: str) -> None:
    try:
        first = parse(text)
    except UsageError as exc:
        assert str(exc) and exc.usage
        return
    assert parse(text) == first


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_usage_error(text: str) -> None:
    """Any text whatsoever either parses (the same way twice) or raises UsageError, never anything else."""
    _parses_or_usage_error(text)


@settings(max_examples=600, deadline=None)
@given(STRUCTURED, st.sampled_from([None, SUBS, ()]))
def test_grammar_shaped_text_parses_or_raises_usage_error(text: str, subs: tuple[str, ...] | None) -> None:
    """Grammar-shaped text parses stably or raises UsageError, with or without known sub-accounts."""
    try:
        first = parse(text, sub_accounts=subs)
    except UsageError:
        return
    assert parse(text, sub_accounts=subs) == first


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SUBS[:2]), st.sets(st.sampled_from(list(Permission)), max_size=5),
       st.lists(st.ip_addresses().map(str), max_size=20),
       st.sampled_from(["30", "90", "180", "360", "never"]),
       st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), max_size=8))
def test_well_formed_create_round_trips(sub: str, perms: set[Permission], ips: list[str], expire: str,
                                        words: list[str]) -> None:
    """Any valid create built from its parts parses back to exactly those parts."""
    text = f"create {sub} perms={','.join(perms) or 'General'} expire={expire} " + " ".join(words)
    if ips:
        text += " ips=" + ",".join(ips)
    command = parse(text)
    assert isinstance(command, Create) and command.spec is not None
    assert command.spec.permissions == frozenset(perms) | {G}
    assert command.spec.ips == tuple(dict.fromkeys(ips))
    assert command.spec.expire_days == (None if expire == "never" else int(expire))
    assert command.reason == " ".join(words) and not command.dry_run


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=" \u200b\u00a0\t", max_size=80), STRUCTURED)
def test_a_command_routed_as_answered_at_once_never_needs_work_after_the_ack(lead: str, text: str) -> None:
    """subcommand() reads only the start of the text; whenever it names a subcommand answered at once, the
    full parse gives one of those commands or a usage error, never a command with work after the ack."""
    if subcommand(lead + text) not in ANSWERED_AT_ONCE:
        return
    try:
        command = parse(lead + text)
    except UsageError:
        return
    assert isinstance(command, Help | Pending | Status | Enroll)


def test_subcommand_reads_the_first_word_as_parse_does() -> None:
    """The routing word matches parse's reading for ordinary texts: case, dashes and Slack's formatting."""
    assert [subcommand(t) for t in ("HELP me", "  Status KK-7F3Q9C2M", "cre\u200bate x", "\u2014help", "")] \
        == ["help", "status", "create", "-help", ""]


def test_the_key_id_shape_comes_from_the_exchange() -> None:
    """The parser knows no exchange's key format: the shape it is given decides, with its own words."""
    other = KeyIds("OtherX", "64 characters", lambda t: len(t) == 64)
    assert isinstance(parse_any("revoke alice01 " + "A" * 64, key_ids=other), Revoke)
    with pytest.raises(UsageError, match="is not OtherX's apiKey: those are 64 characters"):
        parse_any("revoke alice01 5f1e7b3c2d4a6b0008a1b2c3", key_ids=other)
    assert isinstance(parse_any("revoke alice01 5f1e7b3c2d4a6b0008a1b2c3"), Revoke)  # no exchange named
