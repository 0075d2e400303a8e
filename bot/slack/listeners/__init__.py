"""Thin Bolt listeners, one module per surface, registered by `register(app, services)`.

Every listener is Bolt's ack function plus, where there is slow work, lazy functions that Bolt runs after
the ack on the App's listener executor (`App(listener_executor=...)`). Ack functions check what they can
quickly and locally (a wrong TOTP code keeps the modal open with `response_action="errors"`); lazy
functions open modals right after the ack (the trigger_id lives ~3 s) and do the Slack and KuCoin work.
A listener function takes Bolt's injected arguments and the services as the keyword `svc`; failures are
turned into what people see in bot.slack.listeners.errors, the one place for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt import Ack, App
from slack_bolt.util.utils import get_name_for_callable

from bot.slack import handoff, ids
from bot.slack.listeners import approval, commands, enrollment, errors, home, incident, reveal

if TYPE_CHECKING:
    from bot.services.registry import Services

T = TypeVar("T")


def acknowledge(ack: Ack) -> None:
    """The ack of a click or an event: Slack needs nothing else; the work is the lazy function."""
    ack()


@dataclass(frozen=True)
class HandedCommand:
    """The slash commands whose ack is empty and whose work is handed to kukey's worker: what the HTTP gate's
    shortcut needs to hand them over without Bolt (bot.slack.handoff.CommandShortcut)."""

    lazy_name: str  # the name Bolt gives their lazy function, by which the worker's Bolt finds it again
    takes: Callable[[dict[str, Any]], bool]  # the command's form -> whether it is one of them


def register(app: App, svc: Services) -> HandedCommand:
    def now(listener: Callable[..., T]) -> Callable[..., T]:
        """An ack function or a matcher, given the services (Bolt injects the rest by the parameter names)."""
        bound: Any = functools.partial(listener, svc=svc)
        bound.__name__ = listener.__name__  # Bolt names a listener by its __name__
        return bound  # type: ignore[no-any-return]

    def later(work: Callable[..., None]) -> Callable[..., None]:
        return errors.reported(work, svc)

    def elsewhere(work: Callable[..., None]) -> Callable[..., None]:
        """Work that may run in kukey's worker process (bot.slack.handoff): heavy, and bound to no trigger_id."""
        return handoff.handed(later(work))

    def elsewhere_at_once(work: Callable[..., None]) -> Callable[..., None]:
        """Work for kukey's worker that no burst of acks may hold back (it runs beside the jobs)."""
        return handoff.handed(later(work), urgent=True)

    app.command(ids.COMMAND, matchers=[commands.answered_in_the_ack])(now(commands.answer))
    app.command(ids.COMMAND, matchers=[now(commands.opens_a_form)])(
        ack=now(commands.answer), lazy=[later(commands.open_form), elsewhere_at_once(commands.prepare_form)])
    work = elsewhere(commands.work)
    app.command(ids.COMMAND)(ack=now(commands.answer), lazy=[work])
    app.view(ids.CREATE_VIEW)(ack=now(commands.check_form), lazy=[elsewhere(commands.submit_form)])
    app.action(ids.APPROVE)(ack=acknowledge, lazy=[later(approval.open_approve_form)])
    app.view(ids.APPROVE_VIEW)(now(approval.approve))
    app.action(ids.DENY)(ack=acknowledge, lazy=[later(approval.open_deny_form)])
    app.view(ids.DENY_VIEW)(now(approval.deny))
    app.action(ids.REVEAL)(ack=acknowledge, lazy=[later(reveal.on_click)])
    app.view(ids.REVEAL_VIEW)(now(reveal.submit_code))
    app.action(ids.WIPE)(ack=acknowledge, lazy=[later(reveal.wipe)])
    app.action(ids.ENROLL_CONFIRM)(ack=acknowledge, lazy=[later(enrollment.open_confirm_form)])
    app.view(ids.ENROLL_VIEW)(now(enrollment.confirm))
    app.view(ids.REENROLL_NEW_VIEW)(now(enrollment.confirm))
    app.action(ids.REENROLL)(ack=acknowledge, lazy=[later(enrollment.open_reenroll_form)])
    app.view(ids.REENROLL_VIEW)(now(enrollment.check_current_code))
    app.view(ids.REVOKE_VIEW)(now(incident.revoke))
    app.view(ids.KILL_SWITCH_VIEW)(now(incident.kill_switch))
    app.event(ids.HOME_OPENED)(ack=acknowledge, lazy=[elsewhere(home.opened)])
    app.action(ids.HOME_ROTATE)(ack=acknowledge, lazy=[later(home.rotate)])
    app.action(ids.HOME_REVOKE)(ack=acknowledge, lazy=[later(home.revoke)])
    app.action(ids.HOME_ENROLL)(ack=acknowledge, lazy=[later(home.enroll)])
    app.action(ids.REMINDER_ROTATE)(ack=acknowledge, lazy=[later(home.rotate)])
    app.error(errors.on_error)
    return HandedCommand(lazy_name=get_name_for_callable(work), takes=now(commands.handed_at_once))
