"""What a preflight check found: a status, one line of detail and, when something is wrong, one line of fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"  # works, but not as it should; never stops `kukey run`
    FAIL = "FAIL"  # kukey would not work; `kukey run` refuses to start
    SKIP = "SKIP"  # not checked, because what it needs failed (that failure is reported on its own)


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        """`STATUS check: detail`, then `  fix: ...` for a WARN or FAIL (the doctor's format)."""
        out = [f"{self.status} {self.check}: {self.detail}"]
        return out + ([f"  fix: {self.fix}"] if self.fix and self.status in (Status.WARN, Status.FAIL) else [])

    def one_line(self) -> str:
        """`check: detail; fix: ...` on a single line (`kukey run`'s refusal)."""
        return f"{self.check}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


def ok(check: str, detail: str) -> CheckResult:
    return CheckResult(check, Status.OK, detail)


def warn(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, Status.WARN, detail, fix)


def fail(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, Status.FAIL, detail, fix)


def skip(check: str, detail: str) -> CheckResult:
    return CheckResult(check, Status.SKIP, detail)


@dataclass(frozen=True)
class Report:
    """Every result of one preflight, in the order the checks ran; `bot_user_id` from auth.test when it worked."""

    results: tuple[CheckResult, ...]
    bot_user_id: str | None = None

    def having(self, status: Status) -> list[CheckResult]:
        return [r for r in self.results if r.status == status]

    @property
    def failed(self) -> bool:
        return any(r.status == Status.FAIL for r in self.results)

    def summary(self) -> str:
        """`N of M checks passed`, then how many warned, failed and were not run."""
        counts = {status: len(self.having(status)) for status in Status}
        passed = counts[Status.OK] + counts[Status.WARN]
        parts = [f"{passed} of {len(self.results)} checks passed"]
        parts += _counted(counts[Status.WARN], "with a warning", "with warnings")
        parts += _counted(counts[Status.FAIL], "failed", "failed")
        parts += _counted(counts[Status.SKIP], "not run", "not run")
        return ", ".join(parts)


def _counted(count: int, one: str, many: str) -> Iterable[str]:
    return [f"{count} {one if count == 1 else many}"] if count else []


def untrusted_fix(where: str) -> str:
    """What to do about a server whose TLS certificate failed verification (bot.tls.certificate_refused), the
    server being the one `where` (a variable, perhaps with its value) points to."""
    return ("if a proxy inspects TLS on this network, point SSL_CERT_FILE (or SSL_CERT_DIR) at a CA bundle that "
            f"includes its CA; otherwise check {where}: the server there is not one kukey can trust")


CLOCK_WARN_S = 1.0
CLOCK_FAIL_S = 5.0  # KuCoin refuses a request signed more than 5 s off its clock
CLOCK_FIX = ("sync this host's clock with NTP (e.g. `timedatectl set-ntp true` or chrony): TOTP codes are "
             "checked against it")


def skew_result(check: str, offset_s: float, uncertainty_s: float, other: str) -> CheckResult:
    """OK, WARN past 1 s, FAIL past 5 s; `offset_s` is the other clock minus this host's, known to within
    `uncertainty_s`, and only what is certain counts."""
    certain = max(0.0, abs(offset_s) - uncertainty_s)
    where = "behind" if offset_s > 0 else "ahead of"
    detail = f"this host is {abs(offset_s):.1f} s {where} {other}"
    if certain > CLOCK_FAIL_S:
        return fail(check, detail, CLOCK_FIX)
    if certain > CLOCK_WARN_S:
        return warn(check, detail, CLOCK_FIX)
    return ok(check, f"this host is within {abs(offset_s) + uncertainty_s:.1f} s of {other}")
