"""Ctrl-C at random instants of a real `add --commit`: exactly before or exactly after,
exit 130 or 0, one line, never a traceback. Half the runs signal the whole process
group, as a terminal does, so git's own processes get it too."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fingerprint import DATES, difference, fingerprint
from tests.test_landing_faults import Scenario, built

# Before the interpreter has imported `site` nothing of paxx-patch runs: SIGINT then kills
# Python outright (-2), or fails the import of `site` with a "Fatal Python error" (1).
STARTUP = "Fatal Python error: init_import_site"


def _killed_in_startup(code: int, err: str) -> bool:
    """The SIGINT killed Python before paxx-patch ran: outright, or failing `site`."""
    return code == -signal.SIGINT or STARTUP in err


def _printed_in_startup(err: str) -> bool:
    """The SIGINT came during Python's own start-up, before paxx-patch's handler, and
    Python printed it and went on: in a `.pth` line of site-packages ("Error processing
    line") or an import-lock callback ("Exception ignored"), with no frame of paxx_patch
    in what it printed (on a loaded machine start-up takes longer)."""
    return ("Error processing line" in err or "_get_module_lock" in err) and "paxx_patch/" not in err
RUNS = int(os.environ.get("PAXX_PATCH_TEST_CTRL_C_RUNS", "30"))
SEED = int(os.environ.get("PAXX_PATCH_TEST_SEED", "1101"))


def _interrupt(repo: Path, argv: list[str], delay: float, group: bool) -> tuple[int, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "paxx_patch", *argv], cwd=repo,
                            env={**os.environ, **DATES}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    try:
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # it had finished
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_random_ctrl_c_during_add_commit(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    scenario: Scenario = built("add", tmp_path_factory)
    durations = []
    for n in range(2):  # how long a run takes on this machine now
        repo = scenario.copy(tmp_path / f"timing{n}")
        start = time.monotonic()
        assert subprocess.run([sys.executable, "-m", "paxx_patch", *scenario.argv], cwd=repo,
                              env={**os.environ, **DATES}, capture_output=True).returncode == 0
        durations.append(time.monotonic() - start)
    duration = max(durations)
    rng = random.Random(SEED)
    outcomes = {"before": 0, "after": 0, "interpreter start-up": 0}
    for n in range(RUNS):
        repo = scenario.copy(tmp_path / f"run{n}")
        delay, group = rng.uniform(0, duration * 1.3), n % 2 == 1
        code, _out, err = _interrupt(repo, scenario.argv, delay, group)
        what = f"run {n} (seed {SEED}, SIGINT after {delay:.3f}s{' to the group' if group else ''})"
        got = fingerprint(repo)
        landed = got == scenario.after
        assert landed or got == scenario.before, f"{what}: {difference(got, scenario.before)}"
        if _killed_in_startup(code, err) or _printed_in_startup(err):
            # killed: nothing ran; printed and went on: the run was exactly before or after (above)
            assert got == scenario.before or not _killed_in_startup(code, err), f"{what}: exit {code}, {err}"
            outcomes["interpreter start-up"] += 1
            continue
        assert "Traceback" not in err, f"{what}: {err}"
        outcomes["after" if landed else "before"] += 1
        if code == 0:
            assert landed, f"{what}: exit 0 but the change is not there"
            continue
        assert code == 130, f"{what}: exit {code}: {err}"
        assert len(err.strip().splitlines()) == 1, f"{what}: {err}"
        expected = "after the change had landed" if landed else "nothing was changed"
        assert expected in err, f"{what}: {err}"
    print(f"outcomes of {RUNS} Ctrl-Cs over 0-{duration * 1.3:.2f} s: {outcomes}")


@pytest.mark.parametrize("argv", [["list"], ["status"], ["--version"]])
def test_ctrl_c_in_any_command(sample_repo: Path, argv: list[str]) -> None:
    rng = random.Random(SEED)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-m", "paxx_patch", *argv], cwd=sample_repo,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0, 0.4))
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        if _killed_in_startup(proc.returncode, err) or _printed_in_startup(err):
            continue
        assert "Traceback" not in err
        assert proc.returncode in (0, 130), err
        if proc.returncode == 130:
            # the second: the interrupt came once the command's work was done, while
            # it printed (true of these read-only commands, either way)
            assert err.strip().splitlines() in (["paxx-patch: interrupted; nothing was changed."],
                                                 ["paxx-patch: interrupted."])


IN_A_CALLBACK = r'''
import os, signal, weakref
from paxx_patch.runtime import signals
from paxx_patch.runtime.errors import Interrupted

signals.install()


class Thing:
    pass


def callback(_ref):
    os.kill(os.getpid(), signal.SIGINT)  # handled while Python runs this callback
    for _ in range(1000):
        pass


thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    for _ in range(10**7):
        pass
except Interrupted:
    print("raised after the callback", flush=True)
'''


def test_an_interrupt_inside_a_callback_is_raised_after_it() -> None:
    # Python cannot raise out of a weakref callback (the import system's module
    # locks have one): it printed "Exception ignored ... Interrupted" and went on
    done = subprocess.run([sys.executable, "-c", IN_A_CALLBACK], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.strip() == "raised after the callback", done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr


def test_an_interrupt_python_wraps_is_still_an_interrupt() -> None:
    # Ctrl-C landing while a library's classes are made: Python raises RuntimeError
    # ("Error calling __set_name__ ...") from the KeyboardInterrupt, once seen in the
    # random Ctrl-C test as an internal error (exit 3) instead of an interrupt (130)
    from paxx_patch.runtime.errors import EXIT_INTERRUPTED, _classify

    class Field:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    try:
        type("Node", (), {"field": Field()})
    except RuntimeError as e:
        wrapped = e
    assert isinstance(wrapped.__cause__, KeyboardInterrupt)
    classified = _classify(wrapped)
    assert classified is not None and classified[0] == "interrupted" and classified[2] == EXIT_INTERRUPTED
