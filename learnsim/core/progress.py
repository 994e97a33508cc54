"""One progress bar for long work (time stepping, dataset shards, training steps, evaluation).

A thin layer over ``rich.progress``: the bar starts on its first update, so an input error found
before any work prints only its one line, and a disabled bar does nothing::

    with ProgressBar("training", total=steps, enabled=show) as bar:
        for step in range(steps):
            ...
            bar.update(advance=1, description=f"epoch {epoch}")
"""

from __future__ import annotations


class ProgressBar:
    """A rich progress bar over ``total`` units of work, or nothing when ``enabled`` is False.

    Args:
        title: the text left of the bar (``update(description=...)`` changes it).
        total: units of work; ``update(total=...)`` changes it (for estimates).
        completed: units already done (a resumed run).
        detail: a rich format string shown after the count, with ``{task.fields[NAME]}`` for
            fields passed to ``update``; give their initial values in ``fields``.
        transient: remove the bar when it closes; such a bar is not shown at all where the console
            is not a terminal (a pipe, a log file), since nothing of it would remain.
        console: a ``rich.console.Console``; by default one on standard error.

    Where the console is not a terminal, a bar cannot be redrawn: it prints its final state once,
    when it closes after finished work, and nothing when the work failed or was interrupted, so
    that a log ends with the one error line.
    """

    def __init__(
        self,
        title: str,
        total: float | None,
        *,
        completed: float = 0,
        enabled: bool = True,
        detail: str | None = None,
        fields: dict | None = None,
        transient: bool = False,
        console=None,
    ):
        self.enabled = enabled
        self._start = {"description": title, "total": total, "completed": completed, **(fields or {})}
        self._detail, self._transient, self._console = detail, transient, console
        self._progress = None
        self._print_when_done = False

    def update(self, completed: float | None = None, *, advance: float = 0, **changes) -> None:
        """Set ``completed`` or ``advance`` it; ``changes`` may set ``total``, ``description`` or fields."""
        if not self.enabled:
            return
        if self._progress is None:
            self._progress = self._open()
            if self._progress is None:
                self.enabled = False
                return
            self._progress.start()
            self._task = self._progress.add_task(**self._start)
        if completed is not None:
            changes["completed"] = completed
        self._progress.update(self._task, advance=advance, **changes)

    def close(self, failed: bool = False) -> None:
        """Stop the bar; ``failed``: the work did not finish (nothing more is printed off a terminal)."""
        progress, self._progress = self._progress, None
        if progress is None:
            return
        progress.stop()
        if self._print_when_done and not failed:
            progress.console.print(progress.make_tasks_table(progress.tasks))

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(failed=exc_type is not None)

    def _open(self):
        """A rich ``Progress`` with this bar's columns, or None where it would show nothing."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if self._detail is not None:
            columns.append(TextColumn(self._detail))
        columns.append(TimeRemainingColumn())
        console = self._console if self._console is not None else Console(stderr=True)
        if console.is_terminal:
            return Progress(*columns, console=console, transient=self._transient)
        if self._transient:
            return None  # rich would leave a blank line where a bar it cannot redraw was
        self._print_when_done = True
        return Progress(*columns, console=console, disable=True)  # counts, draws nothing until close
