"""The review workflow (R5–R7): from a submitted application to a decision, as a resumable state
machine (GNU Mailman's app/workflow.py is the model; the states and steps are
domain.onboarding's).

Every step is a named method that loads the application with a row lock, checks the step with
`next_state`, and writes the new state and stage, a Decision (the timeline) and an audit event
in one transaction; notices go out after the commit. Nothing is kept in memory between steps,
so an application waits days for its supervisor and resumes exactly where it paused.

    route            submitted -> auto approval (policy auto_approve_on_roster_match and a clean
                     roster match) or the stage at `application.stage` of the approval chain
                     snapshotted at filing: "supervisor" -> awaiting_supervisor with a single-use
                     link to the supervisor's mailbox; "it", "hr", "security" -> awaiting_review,
                     the organisation's reviewers told. A resubmitted application resumes at the
                     stage that asked for information.
    supervisor_*     the supervisor decides through the link (GET shows, POST spends it) ...
    decide           ... or in the portal; reviewers with APPLICATION_REVIEW decide the other
                     stages (four-eyes rules, the policy checklist ticked to approve). The last
                     stage's approval provisions the account in the same transaction
                     (services.provisioning); a full account pool rolls it all back.
    expire_overdue   open applications past their deadline are auto-denied, everyone told.
    send_reminders   approvers of applications waiting longer than the policy's reminder_hours
                     are reminded, at most once per period.
    route_stranded   submitted applications whose routing failed after filing are routed again.

Who is the supervisor: the supervisor the HR roster names for the applicant, else the employee
ID the applicant typed (a mismatch is flagged for the reviewer at filing). Their mailbox is the
active account linked to their roster entry; without one, the supervisor stage is skipped and
the timeline says why. A chain left without any stage gets an IT stage, so no application is
ever approved without a person (automatic approval is a separate, explicit policy setting).
Policy values not snapshotted at filing (auto approval, decision and reminder periods, what the
account gets) are resolved when they are needed, for the roster entry and the entry point.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailgate.domain.access import SYSTEM, Actor, Permission, Role
from mailgate.domain.directory import Account, AccountState, Domain, Organisation, RosterEntry
from mailgate.domain.errors import (
    InvalidInput,
    MailgateError,
    NotFound,
    PermissionDenied,
    PoolExhausted,
    RuleViolation,
)
from mailgate.domain.notices import NoticeKind
from mailgate.domain.onboarding import (
    ONBOARDING_TRANSITIONS,
    Application,
    ApplicationState,
    Decision,
    RosterCheck,
    Step,
    check_reviewer,
    next_state,
    supervisor_id_of,
)
from mailgate.domain.policy import Resolution, resolve
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record
from mailgate.services.notice_texts import roster_flags, stage_name
from mailgate.services.notices import NoticeService
from mailgate.services.policies import subject_for
from mailgate.services.provisioning import (
    ACTIVATION_LIFETIME,
    format_activation_code,
    provision_in,
)

log = logging.getLogger(__name__)
SUPERVISOR = "supervisor"
APPROVER_KINDS = ("supervisor", "it", "hr", "security")
ACTIONS = ("approve", "reject", "ask_information")
_WAITING = (ApplicationState.AWAITING_SUPERVISOR, ApplicationState.AWAITING_REVIEW)
_ACTION_STEPS = {
    "approve": Step.REVIEW_APPROVE,
    "reject": Step.REJECT,
    "ask_information": Step.ASK_INFORMATION,
}
_LINK_UNKNOWN = "this approval link is not valid; use the complete link from your message"
QUEUE_SCAN = 5000  # applications a queue page looks at
STRANDED_AFTER = timedelta(minutes=5)  # a submitted application not routed by then is retried
Send = Callable[[], Awaitable[None]]


class LinkRefused(RuleViolation):
    """A supervisor link that exists but cannot be used (any more)."""

    code = "link_refused"


class LinkUsed(LinkRefused):
    code = "link_used"


class LinkExpired(LinkRefused):
    code = "link_expired"


class LinkOutdated(LinkRefused):
    """The application no longer waits for this link's decision (decided, withdrawn ...)."""

    code = "link_outdated"


def link_digest(token: str) -> str:
    """What is stored of a supervisor link's token (256 random bits need no key)."""
    return hashlib.sha256(b"approval\0" + token.encode()).hexdigest()


def _text(value: str, limit: int = 2000) -> str:
    return "".join(ch for ch in value if ch == "\n" or ch >= " ").strip()[:limit]


def _day(when: datetime | None) -> str:
    return when.date().isoformat() if when else ""


@dataclass(frozen=True, slots=True)
class _Who:
    """Who takes a step: the timeline name, their account, the audit actor."""

    name: str
    account_id: int | None
    actor: Actor


_SYSTEM = _Who("system", None, SYSTEM)


@dataclass(slots=True)
class _Run:
    """One step in progress: its transaction, the locked application and what surrounds it
    (organisation, domain, roster entry), the time, and the notices to send after the commit."""

    uow: UnitOfWork
    app: Application
    org: Organisation
    domain: Domain
    entry: RosterEntry | None
    now: datetime
    outbox: list[Send] = field(default_factory=list)


@dataclass(slots=True)
class ReviewWorkflow:
    uow: UnitOfWorkFactory
    clock: Clock
    notices: NoticeService
    code_key: bytes
    activation_lifetime: timedelta = ACTIVATION_LIFETIME
    batch: int = 100  # applications per sweep

    # --- steps --------------------------------------------------------------------------------

    async def route(self, application_id: int) -> Application:
        """SUBMITTED -> approved automatically, or waiting for the current stage's approvers."""
        async with self.uow() as uow:
            run = await self._run(uow, await uow.applications.get(application_id, lock=True))
            app = run.app
            if app.state is not ApplicationState.SUBMITTED:
                next_state(app.state, Step.ROUTE_TO_REVIEW)  # raises InvalidTransition
            resolution = await self._resolution(run)
            if await self._auto_approved(run, resolution):
                await self._write(run, _SYSTEM, Step.AUTO_APPROVE, "", "", {})
            else:
                kind, supervisor = await self._prepare_stage(run)
                step = Step.ROUTE_TO_SUPERVISOR if kind == SUPERVISOR else Step.ROUTE_TO_REVIEW
                app.state = next_state(app.state, step)
                await self._announce(run, resolution, supervisor)
                await self._write(run, _SYSTEM, step, kind, "", {})
            await uow.commit()
        await self._flush(run)
        return app

    async def supervisor_view(self, token: str) -> Application:
        """The application behind a supervisor link, for its page; does not spend the link."""
        async with self.uow(write=False) as uow:
            app, _ = await self._open_link(uow, token, lock=False)
            return app

    async def supervisor_decide(
        self, token: str, approve: bool, comment: str, client_ip: str
    ) -> Application:
        """The supervisor's decision through their link (single use)."""
        application_id = 0
        try:
            async with self.uow() as uow:
                app, link_id = await self._open_link(uow, token, lock=True)
                application_id = app.id
                run = await self._run(uow, app)
                employee_id, account, why = await self._supervisor(run)
                if account is None:
                    raise LinkOutdated(f"this link can no longer be used: {why}")
                decisions = await uow.applications.decisions(app.id)
                check_reviewer(app, account.id, employee_id, decisions)
                if not await uow.applications.spend_link(link_id, run.now):
                    raise LinkUsed("this link was already used")
                name = f"supervisor:{employee_id}"
                who = _Who(name, account.id, Actor(name, account.id, (), client_ip))
                action = "approve" if approve else "reject"
                await self._take(run, who, action, _text(comment), {})
                await uow.commit()
        except PoolExhausted as exc:
            await self._note_failure(application_id, exc)
            raise
        await self._flush(run)
        return app

    async def decide(
        self,
        actor: Actor,
        application_id: int,
        action: str,
        comment: str,
        checklist: Mapping[str, bool],
    ) -> Application:
        """A reviewer's (or the supervisor's own, in the portal) decision on the stage the
        application waits for: approve, reject (with a reason) or ask_information."""
        if action not in ACTIONS:
            raise InvalidInput(f"unknown decision {action!r}; use one of {', '.join(ACTIONS)}")
        try:
            async with self.uow() as uow:
                found = await uow.applications.get(application_id, lock=True)
                if found is None:
                    raise NotFound(f"there is no application {application_id}")
                run = await self._run(uow, found)
                app = run.app
                employee_id = await self._employee_id(uow, actor, app.org_id)
                wanted = supervisor_id_of(app, run.entry).casefold()
                is_supervisor = bool(employee_id) and employee_id.casefold() == wanted
                if not is_supervisor and not actor.can(Permission.APPLICATION_REVIEW, app.org_id):
                    raise NotFound(f"there is no application {application_id}")
                kind = app.waiting_for
                if kind is None:
                    next_state(app.state, _ACTION_STEPS[action])  # raises InvalidTransition
                    raise InvalidInput("this application waits for no decision")
                if kind == SUPERVISOR and not is_supervisor:
                    raise PermissionDenied(
                        "this stage is decided by the applicant's supervisor (through the link "
                        "sent to them, or here when they sign in)"
                    )
                if kind != SUPERVISOR:
                    actor.require(Permission.APPLICATION_REVIEW, app.org_id)
                decisions = await uow.applications.decisions(app.id)
                check_reviewer(app, actor.account_id, employee_id, decisions)
                who = _Who(actor.name, actor.account_id, actor)
                await self._take(run, who, action, _text(comment), checklist)
                await uow.commit()
        except PoolExhausted as exc:
            await self._note_failure(application_id, exc)
            raise
        await self._flush(run)
        return app

    async def expire_overdue(self) -> int:
        """Auto-deny open applications past their deadline (at most `batch` per run)."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            due = await uow.applications.past_deadline(now, self.batch)
        done = 0
        for candidate in due:
            try:
                done += await self._expire(candidate.id)
            except MailgateError as exc:
                log.warning("application %s not expired: %s", candidate.id, exc)
        return done

    async def send_reminders(self) -> int:
        """Remind the approvers of applications waiting longer than the policy's reminder_hours
        since they were last told (at most `batch` per run)."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            # reminder_hours is at least 1; each candidate's own period is checked below
            waiting = await uow.applications.waiting_since(now - timedelta(hours=1), QUEUE_SCAN)
        sent = 0
        for candidate in waiting:
            if sent >= self.batch:
                break
            try:
                sent += await self._remind(candidate.id)
            except MailgateError as exc:
                log.warning("no reminder for application %s: %s", candidate.id, exc)
        return sent

    async def route_stranded(self) -> int:
        """Route submitted applications whose routing after filing failed."""
        before = self.clock.now() - STRANDED_AFTER
        async with self.uow(write=False) as uow:
            found, _ = await uow.applications.search(
                None, [ApplicationState.SUBMITTED], None, "", 0, self.batch
            )
        routed = 0
        for app in found:
            if app.submitted_at is None or app.submitted_at > before:
                continue
            try:
                await self.route(app.id)
                routed += 1
            except MailgateError as exc:
                log.warning("application %s still not routed: %s", app.id, exc)
        return routed

    async def sweep(self) -> tuple[int, int, int]:
        """One pass of the background work: (expired, reminded, routed)."""
        return await self.expire_overdue(), await self.send_reminders(), await self.route_stranded()

    async def run_sweeps(self, interval: float) -> None:
        """Sweep every `interval` seconds until cancelled (`mailgate serve` runs this)."""
        while True:
            try:
                counts = await self.sweep()
                if any(counts):
                    log.info("onboarding sweep: %d expired, %d reminded, %d routed", *counts)
            except (MailgateError, OSError) as exc:
                log.warning("onboarding sweep failed: %s", exc)
            await asyncio.sleep(interval)

    async def queue(
        self,
        actor: Actor,
        org_slug: str | None,
        waiting_for: str | None,
        query: str,
        offset: int,
        limit: int,
    ) -> tuple[list[Application], int]:
        """The actor's inbox: applications waiting for a stage they may decide (not their own,
        not an IT stage after they authorised as supervisor when four-eyes applies), oldest
        first, with the total."""
        if waiting_for is not None and waiting_for not in APPROVER_KINDS:
            raise InvalidInput(f"unknown stage {waiting_for!r}; known: {', '.join(APPROVER_KINDS)}")
        if offset < 0 or not 1 <= limit <= 500:
            raise InvalidInput("the page must start at 0 or later and hold 1 to 500 entries")
        async with self.uow(write=False) as uow:
            scope = actor.org_scope(Permission.APPLICATION_REVIEW)
            own = await uow.accounts.get(actor.account_id) if actor.account_id else None
            if org_slug is not None:
                org = await uow.orgs.by_slug(org_slug)
                mine = own is not None and org is not None and own.org_id == org.id
                if org is None or not (mine or actor.can(Permission.APPLICATION_REVIEW, org.id)):
                    raise NotFound(f"there is no organisation {org_slug!r}")
                scope = frozenset({org.id}) if scope is None or org.id in scope else frozenset()
                own = own if mine else None
            found: dict[int, Application] = {}
            if scope is None or scope:
                apps, _ = await uow.applications.search(
                    scope, _WAITING, waiting_for, query, 0, QUEUE_SCAN
                )
                for app in apps:
                    if app.waiting_for != SUPERVISOR and await self._may_decide(uow, actor, app):
                        found[app.id] = app
            if own is not None and waiting_for in (None, SUPERVISOR):
                apps, _ = await uow.applications.search(
                    frozenset({own.org_id}), _WAITING, SUPERVISOR, query, 0, QUEUE_SCAN
                )
                for app in apps:
                    if await self._may_decide(uow, actor, app):
                        found[app.id] = app
        ordered = sorted(found.values(), key=lambda a: (a.submitted_at or a.created_at, a.id))
        return ordered[offset : offset + limit], len(ordered)

    # --- the parts of a step ------------------------------------------------------------------

    async def _take(
        self, run: _Run, who: _Who, action: str, comment: str, checklist: Mapping[str, bool]
    ) -> None:
        """Apply one approver's decision on the stage the application waits for."""
        app = run.app
        kind = app.waiting_for or ""
        ticks = _ticks(app, checklist)
        if action == "approve" and kind != SUPERVISOR:
            _require_checklist(app, ticks)  # and the whole list is kept with the approval
        else:
            ticks = {item: tick for item, tick in ticks.items() if item in checklist}
        if action == "approve":
            resolution = await self._resolution(run)
            if app.stage + 1 >= len(app.approval_chain):
                step = Step.FINAL_APPROVE
                await self._final(run, resolution, step)
            else:
                waiting_supervisor = app.state is ApplicationState.AWAITING_SUPERVISOR
                step = Step.SUPERVISOR_APPROVE if waiting_supervisor else Step.REVIEW_APPROVE
                app.state = next_state(app.state, step)
                app.stage += 1
                await self._write(run, who, step, kind, comment, ticks)
                _, supervisor = await self._prepare_stage(run)
                await self._announce(run, resolution, supervisor)
                await run.uow.applications.update(app)
                return
        elif action == "reject":
            step = Step.REJECT
            app.state = next_state(app.state, step)
            if not comment:
                raise InvalidInput("give the reason for the rejection: the applicant is told")
            app.decided_at = run.now
            app.decision_reason = comment
            self._tell_applicant(run, NoticeKind.APPLICATION_REJECTED, {"reason": comment})
        else:
            step = Step.ASK_INFORMATION
            app.state = next_state(app.state, step)
            if not comment:
                raise InvalidInput("write the question for the applicant")
            kind_ = NoticeKind.APPLICATION_NEEDS_INFORMATION
            self._tell_applicant(run, kind_, {"question": comment})
        await self._write(run, who, step, kind, comment, ticks)

    async def _auto_approved(self, run: _Run, resolution: Resolution) -> bool:
        """Approve without a person when the policy says so and the roster matched cleanly;
        a full account pool leaves the application to the approvers (and says why)."""
        if not resolution["auto_approve_on_roster_match"]:
            return False
        if run.app.roster_checks != (RosterCheck.MATCH,):
            return False
        try:
            await self._final(run, resolution, Step.AUTO_APPROVE)
        except PoolExhausted as exc:  # raised before anything was written
            await self._comment(run, "", f"automatic approval failed: {exc}")
            return False
        return True

    async def _final(self, run: _Run, resolution: Resolution, step: Step) -> None:
        """The last approval: the account is provisioned in this transaction."""
        app = run.app
        state = next_state(app.state, step)
        account, code = await provision_in(
            run.uow, self.clock, app, resolution, self.code_key, lifetime=self.activation_lifetime
        )
        app.state = state
        app.account_id = account.id
        app.decided_at = run.now
        params = {
            "address": account.address,
            "code": format_activation_code(code),
            "hours": str(int(self.activation_lifetime.total_seconds() // 3600)),
            "link": f"{self._portal}/activate",
        }
        self._tell_applicant(run, NoticeKind.APPLICATION_APPROVED, params)

    async def _write(
        self,
        run: _Run,
        who: _Who,
        step: Step,
        stage: str,
        comment: str,
        ticks: Mapping[str, bool],
    ) -> None:
        """The timeline entry, the application row and the audit event of one step."""
        app = run.app
        await run.uow.applications.add_decision(
            Decision(app.id, run.now, who.name, step, stage, comment, dict(ticks), who.account_id)
        )
        await run.uow.applications.update(app)
        summary = {
            "stage": stage,
            "state": app.state.value,
            "next_stage": app.waiting_for,
            "comment": comment,
            "checklist": dict(ticks),
            "account_id": app.account_id,
        }
        target = f"application:{app.id}"
        action = f"application.{step.value}"
        await record(run.uow, self.clock, who.actor, action, target, app.org_id, summary)

    async def _comment(self, run: _Run, stage: str, text: str) -> None:
        decision = Decision(run.app.id, run.now, "system", None, stage, text[:2000])
        await run.uow.applications.add_decision(decision)

    async def _prepare_stage(self, run: _Run) -> tuple[str, Account | None]:
        """The stage the application enters now (skipping a supervisor stage nobody can take)
        and, for a supervisor stage, the supervisor's account."""
        app = run.app
        while True:
            if app.stage >= len(app.approval_chain):
                app.approval_chain = (*app.approval_chain, "it")
                text = "no approver is left in the approval chain: an IT reviewer decides"
                await self._comment(run, "it", text)
            kind = app.approval_chain[app.stage]
            if kind != SUPERVISOR:
                return kind, None
            _, account, why = await self._supervisor(run)
            if account is not None:
                return kind, account
            await self._comment(run, kind, f"supervisor stage skipped: {why}")
            app.stage += 1

    async def _announce(
        self, run: _Run, resolution: Resolution, supervisor: Account | None
    ) -> None:
        """Tell the approvers of the stage just entered (a new link for a supervisor)."""
        run.app.reminded_at = run.now
        if supervisor is not None:
            link, expires = await self._new_link(run, resolution)
            self._tell_supervisor(run, NoticeKind.SUPERVISOR_REQUEST, supervisor, link, expires)
            return
        for reviewer in await self._reviewers(run):
            self._tell_reviewer(run, NoticeKind.REVIEW_REQUEST, reviewer, {})

    async def _new_link(self, run: _Run, resolution: Resolution) -> tuple[str, datetime]:
        """A single-use supervisor link for the current stage, valid until the application's
        deadline (or decision_days from now): (URL, expiry). Only its digest is stored."""
        app = run.app
        days = int(resolution["decision_days"])
        expires_at = app.deadline or run.now + timedelta(days=days)
        token = secrets.token_urlsafe(32)
        await run.uow.applications.add_link(app.id, app.stage, link_digest(token), expires_at)
        return f"{self._portal}/approve/{token}", expires_at

    async def _open_link(
        self, uow: UnitOfWork, token: str, *, lock: bool
    ) -> tuple[Application, int]:
        token = token.strip()
        if not token or len(token) > 100:
            raise NotFound(_LINK_UNKNOWN)
        link = await uow.applications.link(link_digest(token))
        if link is None:
            raise NotFound(_LINK_UNKNOWN)
        if link.used_at is not None:
            raise LinkUsed("this link was already used: a decision was made with it")
        app = await uow.applications.get(link.application_id, lock=lock)
        if app is None:
            raise NotFound(_LINK_UNKNOWN)
        if link.expires_at <= self.clock.now():
            raise LinkExpired("this link has expired; the IT desk can tell you what happens next")
        if app.waiting_for != SUPERVISOR or app.stage != link.stage:
            raise LinkOutdated(
                f"this application no longer waits for your decision (it is {app.state.value})"
            )
        return app, link.id

    async def _expire(self, application_id: int) -> int:
        async with self.uow() as uow:
            found = await uow.applications.get(application_id, lock=True)
            now = self.clock.now()
            if (
                found is None
                or (found.state, Step.EXPIRE) not in ONBOARDING_TRANSITIONS
                or found.deadline is None
                or found.deadline >= now
            ):
                return 0
            run = await self._run(uow, found)
            app = run.app
            kind = app.waiting_for or ""
            approvers = await self._approvers(run)
            app.state = next_state(app.state, Step.EXPIRE)
            app.decided_at = run.now
            app.decision_reason = "not decided in time"
            text = "nobody decided within the time the policy allows: automatically denied"
            await self._write(run, _SYSTEM, Step.EXPIRE, kind, text, {})
            days = {"days": str(max(1, (found.deadline - (app.submitted_at or now)).days))}
            self._tell_applicant(run, NoticeKind.APPLICATION_EXPIRED, days)
            for account in approvers:
                self._tell_reviewer(run, NoticeKind.APPLICATION_EXPIRED, account, days)
            await uow.commit()
        await self._flush(run)
        return 1

    async def _remind(self, application_id: int) -> int:
        async with self.uow() as uow:
            found = await uow.applications.get(application_id, lock=True)
            if found is None or found.waiting_for is None:
                return 0
            run = await self._run(uow, found)
            app = run.app
            resolution = await self._resolution(run)
            hours = int(resolution["reminder_hours"])
            last = app.reminded_at or app.submitted_at or app.created_at
            if last is None or run.now - last < timedelta(hours=hours):
                return 0
            params = {"hours": str(hours)}
            if app.waiting_for == SUPERVISOR:
                _, supervisor, _ = await self._supervisor(run)
                if supervisor is not None:
                    link, expires = await self._new_link(run, resolution)
                    kind = NoticeKind.REVIEW_REMINDER
                    self._tell_supervisor(run, kind, supervisor, link, expires, params)
            else:
                for reviewer in await self._reviewers(run):
                    self._tell_reviewer(run, NoticeKind.REVIEW_REMINDER, reviewer, params)
            app.reminded_at = run.now
            await uow.applications.update(app)
            await uow.commit()
        await self._flush(run)
        return 1 if run.outbox else 0

    async def _note_failure(self, application_id: int, exc: MailgateError) -> None:
        """Put a failed final approval on the timeline (its own transaction: the approval's
        was rolled back), so the next approver sees why the application still waits."""
        if not application_id:
            return
        async with self.uow() as uow:
            found = await uow.applications.get(application_id)
            if found is None:
                return
            run = await self._run(uow, found)
            await self._comment(run, found.waiting_for or "", f"approval failed: {exc}")
            await uow.commit()

    # --- people -------------------------------------------------------------------------------

    async def _supervisor(self, run: _Run) -> tuple[str, Account | None, str]:
        """(employee ID, active account, why there is none) of the application's supervisor."""
        app = run.app
        wanted = supervisor_id_of(app, run.entry)
        if not wanted:
            return "", None, "no supervisor is named on the roster or in the application"
        if wanted.casefold() == app.form.employee_id.casefold():
            return wanted, None, "the applicant named themselves as supervisor"
        found = await run.uow.roster.get(app.org_id, wanted)
        if found is None:
            return wanted, None, f"the supervisor {wanted} is not on the roster"
        for account in await run.uow.accounts.by_roster(found.id):
            if account.state is AccountState.ACTIVE and account.org_id == app.org_id:
                return wanted, account, ""
        return wanted, None, f"the supervisor {wanted} has no active mailbox here"

    async def _reviewers(self, run: _Run) -> list[Account]:
        """Active reviewers and administrators of the organisation (platform admins when it
        has none), but never the applicant."""
        uow = run.uow
        ids = await uow.roles.holders(run.app.org_id, [Role.REVIEWER, Role.ORG_ADMIN])
        if not ids:
            ids = await uow.roles.holders(None, [Role.PLATFORM_ADMIN])
        accounts = [await uow.accounts.get(i) for i in ids if i != run.app.applicant_account_id]
        return [a for a in accounts if a is not None and a.state is AccountState.ACTIVE]

    async def _approvers(self, run: _Run) -> list[Account]:
        """Whoever the application waits for now (nobody unless it waits for a decision)."""
        if run.app.waiting_for is None:
            return []
        if run.app.waiting_for == SUPERVISOR:
            _, supervisor, _ = await self._supervisor(run)
            return [supervisor] if supervisor is not None else []
        return await self._reviewers(run)

    async def _employee_id(self, uow: UnitOfWork, actor: Actor, org_id: int) -> str:
        """The actor's own employee ID in this organisation, or ""."""
        if actor.account_id is None:
            return ""
        account = await uow.accounts.get(actor.account_id)
        if account is None or account.org_id != org_id or account.roster_id is None:
            return ""
        entry = await uow.roster.by_id(account.roster_id)
        return entry.employee_id if entry is not None and entry.org_id == org_id else ""

    async def _may_decide(self, uow: UnitOfWork, actor: Actor, app: Application) -> bool:
        """Whether the actor may decide the stage the application waits for now."""
        entry = await uow.roster.by_id(app.roster_id) if app.roster_id else None
        employee_id = await self._employee_id(uow, actor, app.org_id)
        if app.waiting_for == SUPERVISOR:
            wanted = supervisor_id_of(app, entry)
            if not employee_id or employee_id.casefold() != wanted.casefold():
                return False
        elif not actor.can(Permission.APPLICATION_REVIEW, app.org_id):
            return False
        decisions = await uow.applications.decisions(app.id)
        try:
            check_reviewer(app, actor.account_id, employee_id, decisions)
        except PermissionDenied:
            return False
        return True

    # --- loading ------------------------------------------------------------------------------

    async def _run(self, uow: UnitOfWork, app: Application | None) -> _Run:
        """A step on `app` (NotFound when it is gone) with its surroundings loaded."""
        if app is None:
            raise NotFound("there is no such application")
        org = await uow.orgs.get(app.org_id)
        domains = await uow.domains.list(frozenset({app.org_id}))
        domain = next((d for d in domains if d.id == app.domain_id), None)
        if org is None or domain is None:
            raise NotFound("the application's organisation or domain no longer exists")
        entry = await uow.roster.by_id(app.roster_id) if app.roster_id else None
        return _Run(uow, app, org, domain, entry, self.clock.now())

    async def _resolution(self, run: _Run) -> Resolution:
        subject = await subject_for(run.uow, run.app.org_id, run.entry, run.app.entry_point)
        return resolve(await run.uow.policies.for_org(run.app.org_id), subject)

    # --- notices (sent after the commit) ------------------------------------------------------

    @property
    def _portal(self) -> str:
        return self.notices.portal_url.rstrip("/")

    def _common(self, run: _Run) -> dict[str, str]:
        form = run.app.form
        return {
            "number": str(run.app.id),
            "name": form.name,
            "employee_id": form.employee_id,
            "department": form.department,
            "position": form.position,
            "purpose": form.purpose,
            "domain": run.domain.unicode_name,
            "organisation": run.org.name,
            "deadline": _day(run.app.deadline),
        }

    def _tell_applicant(self, run: _Run, kind: NoticeKind, params: Mapping[str, str]) -> None:
        """To the contact the applicant stated (e-mail and/or phone), in their language."""
        form = run.app.form
        if not form.contact_email and not form.mobile:
            log.warning("application %s has no contact; %s not sent", run.app.id, kind.value)
            return
        send = functools.partial(
            self.notices.to_contact,
            kind,
            form.language,
            domain=run.domain.name,
            email=form.contact_email,
            phone=form.mobile,
            params={**self._common(run), **params},
        )
        run.outbox.append(send)

    def _tell_reviewer(
        self, run: _Run, kind: NoticeKind, account: Account, params: Mapping[str, str]
    ) -> None:
        link = f"{self._portal}/admin/applications/{run.app.id}"
        self._to_mailbox(run, kind, account, {"link": link, **params})

    def _tell_supervisor(
        self,
        run: _Run,
        kind: NoticeKind,
        account: Account,
        link: str,
        expires: datetime,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self._to_mailbox(
            run, kind, account, {**(params or {}), "link": link, "expires": _day(expires)}
        )

    def _to_mailbox(
        self, run: _Run, kind: NoticeKind, account: Account, params: Mapping[str, str]
    ) -> None:
        """To an approver's own mailbox, in their language."""
        language = account.language
        values = {
            **self._common(run),
            "stage": stage_name(run.app.waiting_for or "", language),
            "flags": roster_flags([c.value for c in run.app.roster_checks], language),
            **params,
        }
        send = functools.partial(
            self.notices.to_contact,
            kind,
            language,
            domain=account.address.rpartition("@")[2],
            email=account.address,
            params=values,
        )
        run.outbox.append(send)

    async def _flush(self, run: _Run) -> None:
        for send in run.outbox:
            await send()


def _ticks(app: Application, checklist: Mapping[str, bool]) -> dict[str, bool]:
    """The ticks given, limited to the application's checklist; InvalidInput for others."""
    unknown = sorted(k for k in checklist if k not in app.checklist)
    if unknown:
        raise InvalidInput(f"not on this application's checklist: {', '.join(unknown)}")
    return {item: bool(checklist.get(item, False)) for item in app.checklist}


def _require_checklist(app: Application, ticks: Mapping[str, bool]) -> None:
    missing = [item for item in app.checklist if not ticks.get(item)]
    if missing:
        raise InvalidInput("tick every checklist item before approving: " + "; ".join(missing))
