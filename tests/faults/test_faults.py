"""Every session-reading command on every kind of damage: exit 0 with the valid part and a stated
omission (``--strict`` then exits 2 with one line), or exit 2 with one line. Never a traceback, a
hang or a silent difference (see :mod:`tests.faults.harness` for how a cell is judged)."""

from __future__ import annotations

import pytest

from tests.faults.damage import DAMAGES
from tests.faults.harness import COMMANDS, OK, ONE_LINE, PASSING, FaultEnv, run_command


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> FaultEnv:
    return FaultEnv(tmp_path_factory.mktemp("faults"))


#: One xdist group per command: a cell is judged against that command's runs on the clean and
#: reference sessions (made once per process, on demand), so each is made once per test run
#: instead of once per worker that gets a cell of that command.
BY_COMMAND = [pytest.param(command, marks=pytest.mark.xdist_group(f"faults-{command}")) for command in COMMANDS]


def _explain(run) -> str:
    return (f"exit {run.rc}; stderr: {run.stderr[-600:]!r}; messages: {run.messages[-3:]}; "
            f"traceback: {(run.exception or '')[-800:]}")


@pytest.mark.parametrize("command", BY_COMMAND)
def test_clean_sessions_state_nothing_and_agree(env, command):
    """The yardstick: on the clean sessions every command exits 0 stating nothing, and the closed
    and crashed forms of the same events give the same result (info prints the form, so differs)."""
    closed, crashed = env.clean_run(command, "closed"), env.clean_run(command, "crashed")
    assert not closed.stated and not crashed.stated, (closed.stderr, crashed.stderr)
    if not command.startswith("info"):
        assert closed.output == crashed.output


@pytest.mark.parametrize("command", BY_COMMAND)
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_session(env, damage, command, tmp_path):
    damage = DAMAGES[damage]
    path, loss = env.damaged(damage, tmp_path)
    run = run_command(command, path, tmp_path / "work")
    verdict = env.judge(command, damage, loss, run)
    assert verdict in PASSING, f"{damage.label} / {command}: {verdict}; {_explain(run)}"
    if verdict == OK and run.stated:
        strict = run_command(command, path, tmp_path / "work", ("--strict",))
        assert env.judge(command, damage, loss, strict) == ONE_LINE, f"--strict: {_explain(strict)}"
        assert not strict.files, f"--strict still wrote {strict.files}"
