"""The dashboard app: lays out the panels, refreshes them every second, and routes actions.

Theory of operation. A timer starts a thread worker each second (unless one is still running:
refreshes never overlap) that polls the ``Source``; the worker posts ``DataRead`` and the app
hands every panel the same ``View`` (data plus the current time). Panels change only what
differs. Retry, skip, resolve, void, keep, unlink and relink turn the selected problem row into
a ``CommandRequest`` (``tui.commands``), written by another thread worker; the daemon carries
it out and a later refresh shows the outcome. Worker failures of either kind land in
``on_worker_state_changed`` and are shown, never fatal: the next refresh tries again.

Actions address a record, not a row: the selection is the record's key (``KeyedTable``), each
action asks first naming that record, and the command carries the key. When the record left
the table (another operator handled it) the action is refused with what became of it; when a
command this dashboard sent comes back "already handled" (another got there first), its
result is shown: the daemon acted on nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from state import CommandKind, CommandStatus
from state.journal import ALREADY_HANDLED
from tui.commands import (
    CommandRefusedError,
    CommandRequest,
    confirmation,
    plan_command,
    plan_link,
)
from tui.data import DashboardData, Source
from tui.messages import CommandSent, DataRead
from tui.palette import ActionsProvider
from tui.problems import Problem, ProblemKind
from tui.screens import AccountIdScreen, ConfirmScreen, HelpScreen, ResolveScreen
from tui.styles import DASHBOARD_CSS
from tui.view import Panel, Schedule, View
from tui.widgets import (
    AlertLine,
    BudgetsPanel,
    DaemonBar,
    EffectsFeed,
    JobsPanel,
    LagPanel,
    OutboxPanel,
    ProblemsTable,
    StagesPanel,
)

__all__ = ["CommandSink", "Dashboard"]

READ_GROUP = "read"
COMMAND_GROUP = "command"


class CommandSink(Protocol):
    """Where commands go (a ``CommandWriter``); None makes the dashboard read-only."""

    def send(self, request: CommandRequest) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Dashboard(App[None]):
    """cmsync's operators' dashboard over one store."""

    TITLE = "cmsync"
    CSS = DASHBOARD_CSS
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("s", "skip", "Skip"),
        Binding("m", "resolve", "Resolve match"),
        # Shown in the problems table's subtitle when an unwound deal is listed.
        Binding("v", "void", "Void invoice", show=False),
        Binding("k", "keep", "Keep invoice", show=False),
        Binding("u", "unlink", "Unlink", show=False),
        Binding("l", "relink", "Relink", show=False),
        Binding("f", "fix", "Fix", show=False),
        Binding("f5", "refresh", "Refresh"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        source: Source,
        *,
        target_label: str,
        commands: CommandSink | None = None,
        clock: Callable[[], datetime] = _utc_now,
        refresh_every: float | None = 1.0,
        schedules: Mapping[str, Schedule] | None = None,
        stale_after: timedelta = timedelta(seconds=30),
    ) -> None:
        super().__init__()
        self.source = source
        self.target_label = target_label
        self.data: DashboardData | None = None
        self._commands = commands
        self._clock = clock
        self._refresh_every = refresh_every
        self._schedules = dict(schedules or {})
        self._stale_after = stale_after
        self._reading: Worker[DashboardData] | None = None
        self._sent: dict[int, CommandRequest] = {}  # commands sent, until their answer shows

    def compose(self) -> ComposeResult:
        yield DaemonBar(id="daemon")
        yield AlertLine(id="alert")
        with Horizontal(id="row-a"):
            yield JobsPanel()
            yield LagPanel()
            yield BudgetsPanel()
        with Horizontal(id="row-b"):
            yield OutboxPanel()
            yield StagesPanel()
        yield EffectsFeed()
        yield ProblemsTable()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ProblemsTable).focus()
        if self._refresh_every is not None:
            self.set_interval(self._refresh_every, self._tick)
        self.refresh_now()

    # --- reading ---------------------------------------------------------------------

    def _tick(self) -> None:
        if self._reading is None or self._reading.is_finished:
            self._reading = self._read(eager=False)

    def refresh_now(self) -> Worker[DashboardData]:
        """Read now; ``await refresh_now().wait()`` returns the data it read."""
        self._reading = self._read(eager=True)
        return self._reading

    @work(thread=True, exclusive=True, group=READ_GROUP, exit_on_error=False)
    def _read(self, *, eager: bool) -> DashboardData:
        data = self.source.poll(eager=eager)
        self.post_message(DataRead(data))
        return data

    def on_data_read(self, message: DataRead) -> None:
        self.data = message.data
        self.query_one(AlertLine).clear()
        self.show_data()
        self._answers()

    def _answers(self) -> None:
        """Show the daemon's answer to each command sent from here, once it has one: the row
        may be gone by then (done, or handled first by someone else)."""
        if not self._sent or self.data is None:
            return
        for command in self.data.commands:
            request = self._sent.get(command.id)
            if request is None or command.status is CommandStatus.NEW:
                continue
            del self._sent[command.id]
            result = command.result or ""
            said = f"{request.kind.value.replace('_', ' ')} {request.target}"
            if result.startswith(ALREADY_HANDLED):
                self.notify(f"{said}: {result}", severity="warning", timeout=30)
            elif command.status is CommandStatus.FAILED:
                self.notify(f"{said} failed: {result}", severity="error", timeout=30)
            else:
                self.notify(f"{said} done: {result}")

    def show_data(self) -> None:
        """Redraw every panel from the last data at the current time."""
        if self.data is None:
            return
        view = View(self.data, self._clock(), self.target_label, self._schedules, self._stale_after)
        for widget in self.query(".panel"):
            if isinstance(widget, Panel):
                widget.show(view)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures go: shown, and the dashboard carries on."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        reason = f"{type(error).__name__}: {error}"
        if event.worker.group == READ_GROUP:
            self.query_one(AlertLine).raise_alert(
                f"cannot read the store ({reason}); retrying every second"
            )
        else:
            self.notify(f"The command was not sent: {reason}", severity="error", timeout=10)

    # --- actions ---------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.refresh_now()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_retry(self) -> None:
        self._ask(CommandKind.RETRY)

    def action_skip(self) -> None:
        self._ask(CommandKind.SKIP)

    def action_void(self) -> None:
        self._ask(CommandKind.VOID)

    def action_keep(self) -> None:
        self._ask(CommandKind.KEEP)

    def action_resolve(self) -> None:
        problem = self._selected()
        if problem is None or self._read_only():
            return
        if problem.kind is not ProblemKind.AMBIGUOUS_MATCH:
            self.notify(f"Only an ambiguous match can be resolved, not a {problem.kind}.")
            return

        def chosen(account: str | None) -> None:
            if account is not None:
                self._ask(CommandKind.RESOLVE_MATCH, problem, account)

        self.push_screen(ResolveScreen(problem), chosen)

    def action_fix(self) -> None:
        problem = self._selected()
        if problem is not None:
            said = f"{problem.record}: {problem.cause}\nFix: {problem.fix}"
            if problem.effect_key:  # a dead letter: the write's why, and the key it is kept by
                said += f"\nWhy: {problem.why or 'not recorded'}\nKey: {problem.effect_key}"
            self.notify(said, timeout=30)

    def action_unlink(self) -> None:
        problem = self._selected()
        if problem is None or self._read_only():
            return
        try:
            request = plan_link(CommandKind.UNLINK, problem)
        except CommandRefusedError as exc:
            self.notify(str(exc), severity="warning")
            return
        body = (
            f"From: {problem.record}\nIts Account's ChartMogul fields (UUID, URL, figures) are "
            "cleared, and the next customer sweep matches it again or leaves it pending."
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._send(request)

        title = f"Unlink ChartMogul customer {problem.customer_uuid}?"
        self.push_screen(ConfirmScreen(title, body), confirmed)

    def action_relink(self) -> None:
        problem = self._selected()
        if problem is None or self._read_only():
            return
        if not problem.customer_uuid:
            try:
                plan_link(CommandKind.RELINK, problem)
            except CommandRefusedError as exc:
                self.notify(str(exc), severity="warning")
            return

        def chosen(account: str | None) -> None:
            if not account:
                return
            request = plan_link(CommandKind.RELINK, problem, account)
            title = f"Link ChartMogul customer {problem.customer_uuid} to Account {account}?"
            body = (
                f"From: {problem.record}\nAny link either has now is replaced (a customer's "
                "old Account is cleared; an Account linked to another customer is refused: "
                "unlink that customer first)."
            )

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._send(request)

            self.push_screen(ConfirmScreen(title, body), confirmed)

        self.push_screen(AccountIdScreen(problem.customer_uuid, problem.record), chosen)

    def _selected(self) -> Problem | None:
        table = self.query_one(ProblemsTable)
        problem = table.selected()
        gone = table.gone()
        if gone is not None:  # never the neighbour the cursor now stands on
            self.notify(f"{gone}. Nothing was sent: choose a row.", severity="warning")
        elif problem is None:
            self.notify("Select a row in the quarantine and dead letters table first.")
        return problem

    def _read_only(self) -> bool:
        if self._commands is None:
            self.notify("This dashboard is read-only: it sends no commands.", severity="warning")
        return self._commands is None

    def _ask(
        self, kind: CommandKind, problem: Problem | None = None, account: str | None = None
    ) -> None:
        problem = problem or self._selected()
        if problem is None or self._read_only():
            return
        try:
            request = plan_command(kind, problem, account)
        except CommandRefusedError as exc:
            self.notify(str(exc), severity="warning")
            return
        if kind is CommandKind.RESOLVE_MATCH:  # the Account chooser named the record already
            self._send(request)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._send(request)

        self.push_screen(ConfirmScreen(*confirmation(request, problem)), confirmed)

    @work(thread=True, group=COMMAND_GROUP, exit_on_error=False)
    def _send(self, request: CommandRequest) -> None:
        assert self._commands is not None
        self.post_message(CommandSent(request, self._commands.send(request)))

    def on_command_sent(self, message: CommandSent) -> None:
        request, command_id = message.request, message.command_id
        self._sent[command_id] = request
        self.notify(f"Asked the daemon to {request.summary} (command {command_id}).")
        self.refresh_now()
