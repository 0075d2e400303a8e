"""`Services`: every workflow service of one running kukey, as the Slack layer and the CLI see them.

Built by the composition root (bot.app); the Slack listeners receive it in `register(app, services)`.
It lives here, not in bot.app, so that the Slack layer never imports the composition root.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import commands as cmds
from bot.services.checkpoints import Checkpoints
from bot.services.deps import Deps
from bot.services.digest import WeeklyDigest
from bot.services.enrollment import EnrollmentService
from bot.services.home import HomeService
from bot.services.inventory import Inventory, SubAccounts
from bot.services.kill_switch import KillSwitch
from bot.services.ports import Notifier
from bot.services.reconcile import Reconciler
from bot.services.reminders import KeyReminders
from bot.services.reveal import Reveal
from bot.services.revoke import Revoker
from bot.services.rules import Rules
from bot.services.scheduler import Scheduler
from bot.services.workflow import Workflow


@dataclass
class Services:
    deps: Deps
    rules: Rules
    workflow: Workflow
    reveal: Reveal
    revoker: Revoker
    enrollment: EnrollmentService
    inventory: Inventory
    scheduler: Scheduler
    notifier: Notifier
    sub_accounts: SubAccounts
    checkpoints: Checkpoints
    reconciler: Reconciler
    kill_switch: KillSwitch
    home: HomeService
    reminders: KeyReminders
    digest: WeeklyDigest

    def parse(self, text: str, *, check_sub_account: bool = True) -> cmds.Command:
        """Parse `/kukey ...` text as this kukey knows its world: the sub-accounts that exist (when known
        and `check_sub_account`) and the exchange's key-id shape."""
        known = self.sub_accounts.known() if check_sub_account else None
        return cmds.parse(text, sub_accounts=known, key_ids=self.deps.exchange.key_ids)
