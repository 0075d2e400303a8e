"""Updating a key kukey holds: new permissions and/or IP whitelist, under the same approval as a create.

    update_spec(session, cmd)   the key's new whole state (what is not given stays as the key has it);
                                Refused when kukey does not hold the key or nothing would change
    KeyUpdater.run(request)     the `update_key` job, started by the last approval: decrypt the key's
                                passphrase, send the new state to the exchange, record what it granted on
                                the key row; the request ends `done`, or `failed` with the key row as it was

The secret and the passphrase do not change, and nothing secret is shown: there is no reveal step. The
exchange's update sets the key's whole state (KuCoin's modify is idempotent), so a run taken over after a
crash simply sends it again.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.domain import commands as cmds
from bot.domain.actions import AuditAction
from bot.domain.exchange import UpdatedKey
from bot.domain.keys import KeySpec, KeyState, format_permissions, parse_permissions
from bot.domain.requests import State
from bot.errors import ExchangeError, ExchangeOutcomeUnknown, ExchangeUnavailable, Refused
from bot.services.deps import Deps, view
from bot.services.ports import RequestView
from bot.storage import repos
from bot.storage.db import session_scope


def _ips(text: str) -> tuple[str, ...]:
    return tuple(i for i in text.split(",") if i)


def _settings(perms: str, ips: str) -> str:
    return f"permissions {perms.replace(',', ', ')}, IP whitelist {ips.replace(',', ', ') or 'none'}"


def update_spec(session: Session, cmd: cmds.Update) -> KeySpec:
    """The key's new state for `cmd`; Refused (one line) when kukey does not hold the key or nothing changes."""
    key = repos.get_key(session, api_key=cmd.api_key)
    if key is None or key.sub_account != cmd.sub_account:
        raise Refused(f"kukey knows no key {cmd.api_key} in {cmd.sub_account}; see `/kukey list {cmd.sub_account}`.",
                      reason="unknown_key")
    if key.state != KeyState.ACTIVE or key.passphrase_enc is None:
        raise Refused(f"kukey does not hold key {cmd.api_key} ({key.state}): it can update only active keys it "
                      "created, whose passphrase it keeps.", reason="key_not_held")
    spec = KeySpec(cmd.sub_account, parse_permissions(key.permissions) if cmd.permissions is None else cmd.permissions,
                   _ips(key.ips) if cmd.ips is None else cmd.ips, key.expire_days)
    if spec.permissions == parse_permissions(key.permissions) and set(spec.ips) == set(_ips(key.ips)):
        raise Refused(f"Nothing would change: key {cmd.api_key} already has "
                      f"{_settings(key.permissions, key.ips)}.", reason="no_change")
    return spec


def was(req: RequestView) -> dict[str, Any]:
    """An update's audit detail: what the key held before (nothing for other kinds)."""
    if req.key_permissions is None:
        return {}
    return {"was": {"permissions": format_permissions(req.key_permissions), "ips": ",".join(req.key_ips or ())}}


class KeyUpdater:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def run(self, request_id: str) -> None:
        """Send an approved update to the exchange and record the outcome. Idempotent: once the request has
        left `updating` there is nothing to do."""
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None or row.state != State.UPDATING:
                return
            key = repos.get_key(s, api_key=row.target_api_key or "")
            if key is None or key.state != KeyState.ACTIVE or key.passphrase_enc is None:
                held = None
            else:
                held = (key.api_key, key.passphrase_enc, KeySpec(row.sub_account, parse_permissions(row.permissions),
                                                                 _ips(row.ips), key.expire_days))
        if held is None:
            self._failed(request_id, "kukey no longer holds the key (it was revoked, rotated or deleted meanwhile)")
            return
        api_key, blob, spec = held
        passphrase = self.d.box.decrypt(blob, aad=f"key:{api_key}")
        name = self.d.exchange.name
        try:
            updated = self.d.exchange.update_key(api_key, spec, passphrase=passphrase)
        except (ExchangeUnavailable, ExchangeOutcomeUnknown) as exc:  # it may or may not have been applied
            self._failed(request_id, f"{name} did not answer ({exc}); send the update again to be sure of the "
                                     "key's settings there", code=exc.code)
        except ExchangeError as exc:
            self._failed(request_id, f"{name} refused it: {exc}", code=exc.code)
        else:
            self._updated(request_id, spec, updated)

    def _updated(self, request_id: str, spec: KeySpec, updated: UpdatedKey) -> None:
        granted, ips = format_permissions(updated.permissions), ",".join(updated.ips)
        with session_scope(self.d.engine) as s:
            key = repos.get_key(s, api_key=updated.api_key)
            before = {"permissions": key.permissions, "ips": key.ips} if key else {}
            if not repos.transition(s, request_id=request_id, src=State.UPDATING, dst=State.DONE,
                                    resolved_at=self.d.clock.now(), granted_permissions=granted):
                return
            repos.set_key_settings(s, api_key=updated.api_key, permissions=granted, ips=ips)
            row = repos.get_request(s, request_id=request_id)
            assert row is not None
            self.d.audit.record(s, AuditAction.KEY_UPDATED, actor="kukey", request_id=request_id,
                                sub_account=row.sub_account, api_key=updated.api_key,
                                detail={"permissions": granted, "requested": format_permissions(spec.permissions),
                                        "ips": ips, "was": before})
            self.d.outbox.event(s, "updated", view(s, row))

    def _failed(self, request_id: str, why: str, *, code: str | None = None) -> None:
        with session_scope(self.d.engine) as s:
            if not repos.transition(s, request_id=request_id, src=State.UPDATING, dst=State.FAILED,
                                    resolved_at=self.d.clock.now(), resolution_note=why[:300]):
                return
            row = repos.get_request(s, request_id=request_id)
            assert row is not None
            self.d.audit.record(s, AuditAction.KEY_UPDATE_FAILED, actor="kukey", request_id=request_id,
                                sub_account=row.sub_account, api_key=row.target_api_key, outcome="failed",
                                detail={"why": why, "error_code": code})
            self.d.outbox.event(s, "update_failed", view(s, row), why=why)
