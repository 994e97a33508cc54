"""learnsim.core.progress.ProgressBar: lazy start, counts, fields, disabled."""

import io

from rich.console import Console

from learnsim.core.progress import ProgressBar


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=False), out


def test_counts_fields_and_description_reach_the_bar():
    console, out = _console()
    with ProgressBar(
        "steps", None, detail="t = {task.fields[time]:.3g} s", fields={"time": 0.0}, console=console
    ) as bar:
        assert out.getvalue() == ""  # nothing before the first update
        for step in range(1, 6):
            bar.update(step, total=8, time=0.25 * step)
        bar.update(advance=2, total=7, description="stepping")
    text = out.getvalue()
    assert "stepping" in text and "7/7" in text and "t = 1.25 s" in text


def test_completed_is_where_a_resumed_bar_starts():
    console, out = _console()
    with ProgressBar("shards", 10, completed=4, console=console) as bar:
        bar.update(advance=1)
    assert "5/10" in out.getvalue()


def test_a_disabled_bar_prints_nothing(capsys):
    console, out = _console()
    with ProgressBar("training", 3, enabled=False, console=console) as bar:
        for _ in range(3):
            bar.update(advance=1)
    assert out.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_a_transient_bar_leaves_nothing_on_a_non_terminal():
    """rich alone would leave an empty line in a log where a transient bar was (seen before an error line)."""
    console, out = _console()
    with ProgressBar("solving", 3, transient=True, console=console) as bar:
        bar.update(advance=1)
    assert out.getvalue() == ""


def test_a_bar_whose_work_fails_prints_nothing_on_a_non_terminal():
    """The one error line (or "interrupted") is then the whole of a log's stderr."""
    console, out = _console()
    try:
        with ProgressBar("steps", 10, console=console) as bar:
            bar.update(advance=3)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert out.getvalue() == ""
