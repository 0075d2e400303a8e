"""A Slack stand-in for the demo and the tests: a Web API + Socket Mode server, and a driver.

    SlackFake      the workspace on 127.0.0.1 (fake.py): Web API, response_url, Socket Mode, queries
    SlackDriver    what Slack sends to the app (driver.py): slash, click, submit, close, open_home (and click
                   on the Home tab: click(..., home=True)), verify_url, send_raw
    sign           Slack's v0 request signature (payloads.py)
    failures       Web API ones on the fake (rate_limit, fail, drop_calls, revoke_token: faults.py), Socket
                   Mode ones on fake.socket (drop, disconnect, go_down: socket_mode.py)

Error names follow Slack's documentation: invalid_trigger_id (unknown), exchanged_trigger_id (used
twice), expired_trigger_id (older than 3 s); response_url answers HTTP 404 used_url on the 6th use,
404 expired_url after 30 minutes, 404 no_service for an unknown URL, 400 msg_too_long/invalid_blocks.
Where Slack's behaviour is undocumented the fake chooses, and says so here:
- views.push for a user without an open modal answers not_found; more than 3 views push_limit_reached;
- a response to a click on a thread reply lands in that thread unless the response names a thread_ts;
- views.publish refuses a bot or deactivated user_id (invalid_arguments, "invalid `user_id`"), a home view
  with submit or close, or more than 100 blocks; a Home tab keeps its view id across publications;
- Events API retries over HTTP come at once, not after Slack's 1 and 5 minutes;
- a command's replace_original targets the first message its response_url (or its ack) showed;
- user groups leave out deactivated people; chat.postMessage to a public channel needs no membership.
- limits on what the app sends are counted in characters (code points), as slack_sdk's models count
  them; what a person types is stopped at an input's max_length in UTF-16 code units, as Slack's
  JavaScript clients count (an emoji outside the basic plane counts as two).
Time: trigger and response_url lifetimes and message ts follow the injected clock (without one, the wall
clock plus what `advance` added); request signatures use the wall clock, because the app checks them
against its own. `hold` stops calls at Slack's door (a slow network or app), see holds.py.
"""

from kukey_sandbox.slack.driver import Ack, SlackDriver
from kukey_sandbox.slack.failures import (
    AckTimeout,
    EnvelopeLost,
    NoModal,
    NoSuchButton,
    SlackDriverError,
    SlackRejected,
)
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.slack.payloads import sign

__all__ = [
    "Ack",
    "AckTimeout",
    "EnvelopeLost",
    "NoModal",
    "NoSuchButton",
    "SlackDriver",
    "SlackDriverError",
    "SlackFake",
    "SlackRejected",
    "sign",
]
