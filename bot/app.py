"""Composition root: the only module that wires every layer together.

`build(settings, ...)` returns a `Kukey` holding the Bolt app and the services; `start_http()` or
`start_socket()` connects it to Slack; `stop()` drains the worker, the scheduler and the outbox dispatcher,
then the audit stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.audit_stream import forwarder as audit_stream
from bot.config import Settings
from bot.domain.actions import AuditAction
from bot.domain.clock import Clock, SystemClock
from bot.domain.jobs import JobKind
from bot.domain.policy import Policy
from bot.errors import ConfigError, KukeyError
from bot.kucoin.client import KucoinClient
from bot.kucoin.exchange import KucoinExchange
from bot.ops.endpoints import ops_server
from bot.ops.health import CachedCheck, Readiness, WatchedScheduler, database_check
from bot.ops.metrics import Metrics
from bot.ops.server import Server
from bot.ops.worker import WorkerProcess
from bot.policy_file import load_policy
from bot.security.crypto import SecretBox
from bot.services.checkpoints import Checkpoints
from bot.services.delivery import Dispatcher
from bot.services.deps import Deps
from bot.services.digest import WeeklyDigest
from bot.services.enrollment import EnrollmentService
from bot.services.home import HomeService
from bot.services.inventory import Inventory, SubAccounts
from bot.services.keys import KeyDeleter
from bot.services.kill_switch import KillSwitch
from bot.services.leases import Leases
from bot.services.outbox import Outbox
from bot.services.pools import start_all
from bot.services.ports import Exchange
from bot.services.reconcile import Reconciler
from bot.services.registry import Services
from bot.services.reminders import KeyReminders
from bot.services.reveal import Reveal
from bot.services.revoke import Revoker
from bot.services.rotate import OldKeyDeletion
from bot.services.rules import Rules
from bot.services.undelivered import Undelivered
from bot.services.update import KeyUpdater
from bot.services.workflow import Workflow
from bot.slack import ids, listeners
from bot.slack.client import auth_probe, make_web_client
from bot.slack.courier import SlackCourier, courier_client
from bot.slack.directory import SlackDirectory
from bot.slack.handoff import CommandShortcut, Frame, hand_off, run_handed
from bot.slack.home import SlackHome
from bot.slack.http import HttpTransport
from bot.slack.notifier import SlackNotifier
from bot.slack.precheck import slack_precheck
from bot.slack.socket_mode import CONNECTIONS, SocketTransport
from bot.storage.audit import AuditLog
from bot.storage.db import init_db, make_engine, session_scope
from bot.tls import http_client

log = logging.getLogger("kukey")
WORKERS = 16
SLACK_AUTH_EVERY = timedelta(seconds=30)  # readiness asks auth.test at most this often




class Kukey:
    def __init__(self, app: App, services: Services, slack: WebClient, settings: Settings,
                 closers: list[Callable[[], Any]], metrics: Metrics, dispatcher: Dispatcher,
                 handed: listeners.HandedCommand) -> None:
        self.metrics = metrics
        self.dispatcher = dispatcher  # delivers the outbox (bot.services.delivery)
        self.readiness = Readiness()  # named checks behind /readyz; build() adds kukey's own
        self._ops_server: Server | None = None
        self.app = app
        self.services = services
        self.slack = slack
        self.settings = settings
        self._closers = closers
        self.audit_stream: audit_stream.Forwarder | None = None  # KUKEY_AUDIT_FORWARD: bot.audit_stream
        self._transport: HttpTransport | SocketTransport | None = None
        self._worker: WorkerProcess | None = None  # `kukey run`'s worker process, if the work is handed to one
        self._handed = handed
        self._shortcut: CommandShortcut | None = None  # with a worker: the HTTP gate hands those commands over
        self.slack_auth = CachedCheck(lambda: auth_probe(slack), clock=services.deps.clock, interval=SLACK_AUTH_EVERY,
                                      name="slack")

    def start_background(self) -> None:
        """Recover what a crash left in flight, then start the scheduler."""
        svc = self.services
        start_all(svc.deps.worker, WORKERS)  # its threads at this one's priority (bot.services.pools)
        # What a crash left in flight is in the job table (recover_reveal, revoke, delete_old_key...):
        # the scheduler reclaims each job once its lease expires, in this process or another one.
        if self._worker is None:  # else the worker lists them and tells this process
            svc.deps.later(svc.sub_accounts.refresh)
        svc.checkpoints.ensure_scheduled()
        svc.reconciler.ensure_scheduled()
        svc.reminders.ensure_scheduled()
        svc.digest.ensure_scheduled()
        svc.scheduler.start()
        self.dispatcher.start()  # what a crash left in the outbox is claimed again once its lease ran out
        if self.audit_stream is not None:
            self.audit_stream.start()
        if self.settings.metrics_port is not None:  # /livez, /readyz, /healthz, /metrics: bot.ops.endpoints
            self._ops_server = ops_server(self.metrics, self.readiness, host="0.0.0.0",
                                          port=self.settings.metrics_port).start()
        self.slack_auth.refresh()  # the token checked once at start (/livez answers meanwhile); then cached

    def hand_off_to(self, worker: WorkerProcess) -> None:
        """From now on the work behind the acks (Bolt's lazy listeners marked `handed`) and the jobs run in
        `worker`'s process; stop() stops it once the transport no longer acks. Readiness check "scheduler"
        becomes: that process runs."""
        hand_off(self.app, worker.send)
        self._shortcut = CommandShortcut(worker.send, command=ids.COMMAND, lazy_name=self._handed.lazy_name,
                                         takes=self._handed.takes)
        # the jobs too, so that this process never talks to KuCoin behind the acks (one rate gate, the worker's),
        # except a reveal's create (its passphrase is made in the ack and stays in this process's memory)
        self.services.scheduler.run_elsewhere(lambda kind, ref: worker.send({"job": [kind.value, ref], "urgent": True}))
        worker.listen(self._from_worker)
        self._worker = worker
        self.readiness.replace("scheduler", worker.alive)  # the scheduler runs in the worker

    def _from_worker(self, message: dict[str, Any]) -> None:
        if "sub_accounts" in message:  # the worker lists them at KuCoin; the acks' parser checks names against them
            self.services.sub_accounts.remember([str(name) for name in message["sub_accounts"]])
        elif "metric" in message:  # what the worker counted (KuCoin calls): served on this process's /metrics
            self.metrics.relayed(message)

    def run_handed(self, frame: Frame) -> None:
        """In the worker: run the lazy listener call, or the job, the serving process handed over."""
        if "job" in frame:
            kind, ref = frame["job"]
            self.services.scheduler.run_now(JobKind(kind), str(ref))
        else:
            run_handed(self.app, frame)

    def serving(self) -> bool:
        """A Slack transport has started (readiness check "transport")."""
        return self._transport is not None

    def slack_ready(self) -> bool:
        """Readiness check "slack": in Socket Mode a live connection, and in both modes Slack reachable with
        the token still valid (auth.test, cached)."""
        socket_ok = not isinstance(self._transport, SocketTransport) or self._transport.live()
        return socket_ok and self.slack_auth()

    @property
    def ops_port(self) -> int | None:
        return self._ops_server.port if self._ops_server is not None else None

    def start_http(self, *, host: str = "127.0.0.1", port: int = 0) -> HttpTransport:
        """Serve /slack/events; the signature is verified once, by the precheck (Bolt's own is off)."""
        secret = self.settings.slack_signing_secret.reveal()
        if not secret:
            raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests")
        self.start_background()
        self._transport = HttpTransport(self.app, host=host, port=port, on_ack=self.metrics.slack_ack,
                                        precheck=slack_precheck(secret), shortcut=self._shortcut).start()
        return self._transport

    def start_socket(self, *, connections: int = CONNECTIONS) -> SocketTransport:
        self.start_background()
        self._transport = SocketTransport(self.app, app_token=self.settings.slack_app_token.reveal(),
                                          web_client=self.slack, on_ack=self.metrics.slack_ack,
                                          observer=self.metrics, connections=connections).start()
        return self._transport

    def stop(self) -> None:
        if self._transport is not None:
            self._transport.stop()
        if self._worker is not None:  # no new acks now: the worker finishes what they left behind
            self._worker.stop()
        if self._ops_server is not None:
            self._ops_server.stop()
        self.services.scheduler.stop()
        self.services.deps.worker.shutdown(wait=True)
        self.services.deps.leases.stop()  # renewed until the last work in hand (a reveal) has finished
        self.dispatcher.stop()  # what is still owed stays in the outbox, for the next start or another replica
        try:
            with session_scope(self.services.deps.engine) as s:
                self.services.deps.audit.record(s, AuditAction.KUKEY_STOPPED, actor="kukey")
        except KukeyError as exc:  # shutting down anyway; the missing stop event is itself evidence
            log.error("could not record the stop in the audit log", extra={"error": str(exc)})
        if self.audit_stream is not None:  # last: it gets a few seconds to deliver the stop event too
            self.audit_stream.stop()
        for close in self._closers:
            close()


def build(settings: Settings, *, clock: Clock | None = None, policy: Policy | None = None,
          scheduler_interval: float = 1.0, kucoin_http: httpx.Client | None = None,
          exchange: Exchange | None = None, process: str = "", metrics: Metrics | None = None) -> Kukey:
    """Wire every layer. `exchange` replaces KuCoin (built from the settings) with another exchange;
    `process` names a process other than the serving one in its start event ("worker": bot.cli.worker), and
    `metrics` replaces its own (the worker relays what it counts to the serving process)."""
    clock = clock or SystemClock()
    if policy is None:
        assert settings.policy_path is not None
        policy = load_policy(settings.policy_path)
    engine = make_engine(settings.database_url)
    init_db(engine, auto_migrate=settings.auto_migrate)
    metrics = metrics or Metrics()
    audit = CountedAudit(settings.master_key_bytes(), clock, metrics)
    with session_scope(engine) as s:
        audit.record(s, AuditAction.KUKEY_STARTED, actor="kukey", detail={"process": process} if process else None)
        audit.record(s, AuditAction.POLICY_LOADED, actor="kukey",
                     detail={"file": policy.file, "rules": len(policy.rules)})
    slack = make_web_client(settings)  # every Web API call, apps.connections.open included: retries within a budget
    closers: list[Callable[[], Any]] = []
    if exchange is None:
        exchange = _kucoin(settings, clock, kucoin_http, metrics)
        closers.append(exchange.close)
    http = http_client(timeout=10.0)
    leases = Leases(engine=engine, clock=clock, lease=timedelta(seconds=settings.lease_seconds))
    scheduler = WatchedScheduler(engine=engine, clock=clock, interval=scheduler_interval, leases=leases)
    deps = _deps(settings, engine, audit, clock, exchange, slack, http, policy, leases)
    deps.jobs = scheduler
    services = _services(deps, slack, scheduler)
    metrics.set_requests_source(lambda: _requests_by_state(engine))
    records = make_engine(settings.database_url, flushed=False)  # what the outbox delivered: no disk flush waited
    dispatcher = Dispatcher(engine=engine, clock=clock, courier=SlackCourier(courier_client(settings)),
                            outbox=deps.outbox, undelivered=Undelivered(deps), lease=deps.leases.lease,
                            interval=scheduler_interval, records=records)
    app, handed = _bolt_app(settings, slack, services)
    kukey = Kukey(app, services, slack, settings, [*closers, http.close, records.dispose, engine.dispose], metrics,
                  dispatcher, handed)
    kukey.audit_stream = audit_stream.from_settings(settings, clock=clock, observer=metrics)
    kukey.readiness.add("database", database_check(engine))
    kukey.readiness.add("scheduler", scheduler.check())
    kukey.readiness.add("transport", kukey.serving)
    kukey.readiness.add("slack", kukey.slack_ready)
    return kukey


def _deps(settings: Settings, engine: Engine, audit: AuditLog, clock: Clock, exchange: Exchange, slack: WebClient,
          http: httpx.Client, policy: Policy, leases: Leases) -> Deps:
    """What every service needs: storage, the exchange, Slack's ports, the policy, the worker pool."""
    box = SecretBox(settings.master_key_bytes())
    notifier = SlackNotifier(slack, lambda: policy, http=http)
    return Deps(engine=engine, audit=audit, box=box, clock=clock, exchange=exchange, notifier=notifier,
                outbox=Outbox(notifier, clock), directory=SlackDirectory(slack), policy=lambda: policy,
                enrollment=EnrollmentService(engine=engine, audit=audit, box=box, clock=clock),
                worker=ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="kukey-worker"), leases=leases)


def _services(deps: Deps, slack: WebClient, scheduler: WatchedScheduler) -> Services:
    """The services, and the jobs each of them runs."""
    rules = Rules(policy=deps.policy, directory=deps.directory, exchange=deps.exchange, engine=deps.engine,
                  clock=deps.clock)
    deleter = KeyDeleter(deps)
    workflow, reveal, revoker = Workflow(deps, rules), Reveal(deps, rules), Revoker(deps, rules, deleter)
    subs = SubAccounts(lambda: [a.name for a in deps.exchange.list_sub_accounts()])
    checkpoints = Checkpoints(deps)
    home = HomeService(deps, rules, checkpoints, SlackHome(slack))
    deps.outbox.watch(home.reported)  # Home tabs follow what is reported
    services = Services(deps=deps, rules=rules, workflow=workflow, reveal=reveal, revoker=revoker,
                        enrollment=deps.enrollment, inventory=Inventory(deps, rules, subs), scheduler=scheduler,
                        notifier=deps.notifier, sub_accounts=subs, checkpoints=checkpoints,
                        reconciler=Reconciler(deps, lambda: subs.known() or subs.refresh()), home=home,
                        reminders=KeyReminders(deps), digest=WeeklyDigest(deps, rules, home),
                        kill_switch=KillSwitch(deps, rules, deleter))
    jobs: dict[JobKind, Callable[[str], None]] = {
        JobKind.EXPIRE_REQUEST: workflow.expire,
        JobKind.LAPSE_APPROVAL: workflow.lapse,
        JobKind.RECOVER_REVEAL: reveal.recover,
        JobKind.DELETE_OLD_KEY: OldKeyDeletion(deps, deleter).run,
        JobKind.RETRY_DELETE:
            lambda k: _raise_unless(deleter.delete(k, actor="kukey", request_id=None, why="retry").ok, k),
        JobKind.REVOKE: revoker.run,
        JobKind.UPDATE_KEY: KeyUpdater(deps).run,
        JobKind.KILL_SWITCH: services.kill_switch.run,
        JobKind.AUDIT_CHECKPOINT: checkpoints.run,
        JobKind.RECONCILE: services.reconciler.job,
        JobKind.KEY_REMINDERS: services.reminders.job,
        JobKind.WEEKLY_DIGEST: services.digest.job,
        JobKind.REMIND_APPROVERS: workflow.notices.remind,
        JobKind.ESCALATE_REQUEST: workflow.notices.escalate,
    }
    for kind, run in jobs.items():
        scheduler.on(kind, run)
    return services


def _bolt_app(settings: Settings, slack: WebClient, services: Services) -> tuple[App, listeners.HandedCommand]:
    bolt_log = logging.getLogger("kukey.bolt")
    bolt_log.setLevel(logging.ERROR)  # the transport logs each refused request once; Bolt would repeat it
    app = App(logger=bolt_log, token=settings.slack_bot_token.reveal(),
              signing_secret=settings.slack_signing_secret.reveal() or None,
              listener_executor=services.deps.worker,  # lazy listeners run on the worker pool, drained by stop()
              client=slack, process_before_response=True, token_verification_enabled=True,
              request_verification_enabled=False)  # HTTP mode: bot.slack.precheck verifies, once
    return app, listeners.register(app, services)


class CountedAudit(AuditLog):
    """The audit log, also counting the events that have a metric (approvals, TOTP failures)."""

    __slots__ = ("_metrics",)

    def __init__(self, master_key: bytes, clock: Clock, metrics: Metrics) -> None:
        super().__init__(master_key, clock)
        self._metrics = metrics

    def record(self, session: Any, action: AuditAction, **fields: Any) -> int:
        seq = super().record(session, action, **fields)
        if action == AuditAction.REQUEST_APPROVAL:
            self._metrics.approval()
        elif action == AuditAction.TOTP_FAILED:
            self._metrics.totp_failure()
        return seq


def _kucoin(settings: Settings, clock: Clock, http: httpx.Client | None, metrics: Metrics) -> KucoinExchange:
    return KucoinExchange(KucoinClient(
        base_url=settings.kucoin_api_url, api_key=settings.kucoin_api_key, api_secret=settings.kucoin_api_secret,
        api_passphrase=settings.kucoin_api_passphrase, clock=clock, http=http, observer=metrics.kucoin_call))


def _requests_by_state(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM request GROUP BY state"))
        return {str(state): int(n) for state, n in rows}


def _raise_unless(ok: bool, api_key: str) -> None:
    if not ok:
        raise RuntimeError(f"delete of {api_key} failed; retrying")
