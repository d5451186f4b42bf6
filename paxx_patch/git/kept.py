"""The refs paxx-patch keeps under refs/paxx-patch/, and their settling at each run.

- `pristine/DIGEST`: the pristine files of an update whose user edits landed
  merged, so no branch holds them as rendered (for `verify` and the next update);
- `pending/DIGEST-ONTO`: the same for a cherry-pick left to the user on ONTO,
  until it ends: kept as `pristine/DIGEST` once it went on, dropped when HEAD is
  back at ONTO (`git cherry-pick --abort`);
- `base/TIP`: the restore commit a patch series' pre-images come from;
- `run/PID-…`: temporary refs of earlier versions, removed once their run is gone.
"""

from __future__ import annotations

from collections.abc import Callable

from paxx_patch.git.build import REF_PREFIX
from paxx_patch.git.quarantine import common_dir
from paxx_patch.git.repo import Git

PENDING = f"{REF_PREFIX}pending/"
_RUN = f"{REF_PREFIX}run/"


def exists(git: Git, ref: str) -> bool:
    return git.run("rev-parse", "-q", "--verify", ref, check=False).returncode == 0


def pending(pristine_ref: str, onto: str) -> str:
    """The pending name of `pristine_ref` for a pick onto the commit `onto`."""
    return f"{PENDING}{pristine_ref.rsplit('/', 1)[1]}-{onto}"


def promote(git: Git, ref: str) -> None:
    """The pick went on: the pending ref becomes the pristine ref it stands for."""
    digest = ref[len(PENDING):].partition("-")[0]
    oid = git.out("rev-parse", ref)
    lines = f"delete {ref}\n"
    if not exists(git, f"{REF_PREFIX}pristine/{digest}"):
        lines += f"create {REF_PREFIX}pristine/{digest} {oid}\n"
    git.run("update-ref", "--stdin", input=lines.encode())


def settle(git: Git, alive: Callable[[int], bool]) -> None:
    """Pending refs of picks that have ended, and run refs of runs that are gone:
    one `for-each-ref` when there is nothing to do."""
    refs = git.out("for-each-ref", "--format=%(refname)", _RUN, PENDING).splitlines()
    stale = [r for r in refs if r.startswith(_RUN)
             and not alive(int(r.rsplit("/", 1)[1].split("-")[0]))]
    if stale:
        git.run("update-ref", "--stdin", input="".join(f"delete {r}\n" for r in stale).encode())
    top = common_dir(git.git_dir) / REF_PREFIX
    for empty in (top / "run", top):  # what earlier versions' temporary refs left
        try:
            empty.rmdir()
        except OSError:
            pass
    waiting = [r for r in refs if r.startswith(PENDING)]
    picking = (git.git_dir / "CHERRY_PICK_HEAD").exists() or (git.git_dir / "sequencer").exists()
    if not waiting or picking:
        return  # nothing is decided while the pick is still in progress
    head = git.head()
    for ref in waiting:
        if ref.rpartition("-")[2] == head:
            git.run("update-ref", "-d", ref)
        else:
            promote(git, ref)
