"""Running ``learnsim`` in-process in tests, and the check every bad-input case makes."""

from collections.abc import Iterable

from learnsim.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``learnsim ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, out: str, err: str, words: Iterable[str]) -> str:
    """Exit code 2, nothing on stdout, one stderr line ``learnsim: error: ...`` holding every word; the line."""
    assert code == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("learnsim: error: "), err
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]
