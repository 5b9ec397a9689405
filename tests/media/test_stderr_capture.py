"""Decoder messages on fd 2 reach the file being decoded, without making decodes wait for each other."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from photoshelf.media.stderr_capture import decode_capturing

WAIT = 30.0  # seconds; only a broken capture takes that long


def say(text: str) -> None:
    """What LibRaw does: a bare line written to file descriptor 2 from C."""
    os.write(2, text.encode() + b"\n")


def side_by_side(first: Callable[[], None], second: Callable[[], None]) -> tuple[list[str], list[str]]:
    """decode_capturing() of the two on two threads; the lines each got."""
    decode_capturing(lambda: None, [])  # a silent decode: after one that talked, the next would start alone
    said: tuple[list[str], list[str]] = ([], [])
    errors: list[BaseException] = []

    def run(decode: Callable[[], None], into: list[str]) -> None:
        try:
            decode_capturing(decode, into)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d, s)) for d, s in zip((first, second), said, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    if errors:
        raise errors[0]
    return said


def test_decodes_run_side_by_side(capfd: pytest.CaptureFixture[str]) -> None:
    a_inside, b_inside = threading.Event(), threading.Event()

    def a() -> None:
        a_inside.set()
        # With one decode at a time, B could not start while A runs, and this would time out.
        assert b_inside.wait(WAIT), "a second decode waited for the first"

    def b() -> None:
        assert a_inside.wait(WAIT)
        b_inside.set()
        say("a log line of another thread")  # not a decoder's: it goes on to the real stderr

    capfd.readouterr()
    assert side_by_side(a, b) == ([], [])
    assert "a log line of another thread" in capfd.readouterr().err


def test_a_line_while_two_decode_goes_to_its_own_file_only(capfd: pytest.CaptureFixture[str]) -> None:
    calls = {"bad": 0, "good": 0}
    bad_said, good_inside = threading.Event(), threading.Event()

    def bad() -> None:
        calls["bad"] += 1
        if calls["bad"] == 1:  # the first time, while the good file decodes too
            assert good_inside.wait(WAIT)
        say("unknown file: data corrupted at 1378")
        bad_said.set()

    def good() -> None:
        calls["good"] += 1
        if calls["good"] == 1:
            good_inside.set()
            assert bad_said.wait(WAIT)

    capfd.readouterr()
    assert side_by_side(bad, good) == (["LibRaw: data corrupted at 1378"], [])
    # The line came while both decoded, so each decoded again, alone, to find out whose it was.
    assert calls == {"bad": 2, "good": 2}
    assert "data corrupted" not in capfd.readouterr().err, "the bare line no longer reaches the console"


def test_a_failing_decode_keeps_its_lines_and_stderr_is_itself_after(capfd: pytest.CaptureFixture[str]) -> None:
    def broken() -> None:
        say("unknown file: Unexpected end of file")
        raise ValueError("cut short")

    said: list[str] = []
    with pytest.raises(ValueError, match="cut short"):
        decode_capturing(broken, said)
    assert said == ["LibRaw: Unexpected end of file"]
    capfd.readouterr()
    say("unknown file: data corrupted at 3")  # no decode runs: nobody's line, to stderr as it is
    assert "unknown file: data corrupted at 3" in capfd.readouterr().err
