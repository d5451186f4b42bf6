"""Deliver built commits: onto the current branch as one transaction, on a new
branch, or as patches.

`--commit` moves three things git keeps apart: the branch, the index and the
working tree. `land_on_head` moves them together or not at all:

1. checks (`obstacles.py`), with git's own `index.lock` taken first (O_EXCL, as
   git does) so no other git process changes the index while we look and write;
2. prepare, in `.git/paxx-patch-landing/`: the new index (a copy of the user's,
   the touched entries set to the tip's) and the new files as git itself writes
   them (`checkout-index --prefix`: smudge filters, eol conversion and a full
   disk fail here, where they harm nothing); then a journal of the transaction;
3. switch, with SIGINT/SIGTERM/SIGHUP deferred: each touched file is renamed
   into the transaction's backup directory and its new version renamed into
   place, the new index's stat data refreshed, then the branch moved by
   compare-and-swap (`update-ref REF TIP BASE`: the point of no return), the new
   index renamed over `index` and the lock let go.

Any failure or interrupt before the branch moves puts the backups back and
drops the new index: the user's index file was never written. After the branch
moved, the rest is completed instead. A run killed outright leaves the journal
behind; the next run settles it the same way (`recover`): rolled back if the
branch does not hold the tip, completed if it does.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from paxx_patch.git import obstacles, replay
from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import GitError, PaxxError, TornError, record_landed
from paxx_patch.runtime.faults import checkpoint
from paxx_patch.runtime.signals import deferred, raise_if_pending

TRANSACTION = "paxx-patch-landing"  # in the git directory
STAGING_IN_WORKTREE = ".paxx-patch-landing"  # when that is on another file system


@dataclass
class Journal:
    ref: str  # refs/heads/NAME, or HEAD when detached
    base: str
    tip: str
    changed: list[str]  # paths whose entry differs between base and tip
    tracked: list[str]  # of them, those the base (and the index) has
    written: list[str]  # of them, those the tip has; the others are deleted
    new_dirs: list[str]  # directories made for the written ones, parents first
    staging: str  # where new files wait and old ones are kept: on the working tree's file system


class Landing:
    """One transaction on disk; every method can be repeated after a crash."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self.dir = git.git_dir / TRANSACTION
        self.lock = git.git_dir / "index.lock"
        self.index = git.git_dir / "index"
        self.temp_index = self.dir / "index"
        self.journal_file = self.dir / "journal.json"
        self.token = f"paxx-patch landing {os.getpid()} {secrets.token_hex(8)}\n"
        self.started = False  # the transaction directory is ours
        self.moved = False  # the branch holds the tip: the landing completes from here

    def begin(self) -> None:
        """Take the transaction directory, then git's index lock (which says it is ours)."""
        try:
            self.dir.mkdir()
        except FileExistsError:
            raise PaxxError(
                f"{self.dir} is left from an earlier paxx-patch run that could not be settled; "
                "see its journal.json, put things right, delete the directory and run again."
            ) from None
        self.started = True
        if not self._take_lock():
            self.discard()
            self.started = False
            raise PaxxError(
                f"{self.lock} exists: another git process is working in this repository. "
                "Wait for it to finish and run again; if no git process is running, delete "
                f"{self.lock}. Nothing was changed."
            )

    def _take_lock(self) -> bool:
        """git's lockfile protocol: whoever creates index.lock (O_EXCL) may write the index."""
        (self.dir / "owner").write_text(self.token)
        try:
            fd = os.open(self.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.token)  # git never reads a lock's content: it names the owner
        except BaseException:
            self.lock.unlink()
            raise
        return True

    def read_journal(self) -> Journal | None:
        try:
            return Journal(**json.loads(self.journal_file.read_text()))
        except FileNotFoundError:
            return None

    def owns_lock(self) -> bool:
        try:
            owner = (self.dir / "owner").read_text()
            return bool(owner) and self.lock.read_text() == owner
        except FileNotFoundError:
            return False

    def _in_temp_index(self) -> Git:
        return replace(self.git, env={**self.git.env, "GIT_INDEX_FILE": str(self.temp_index)})

    def build_index(self, journal: Journal) -> None:
        """The user's index with the changed entries set to the tip's."""
        if self.index.exists():
            shutil.copyfile(self.index, self.temp_index)
        else:
            self._in_temp_index().run("read-tree", journal.base)
        entries = _entries(self.git, journal.tip, journal.changed)
        null = "0" * len(journal.base)
        lines = "".join(
            f"{entries[p][0]} {entries[p][1]}\t{p}\0" if p in entries else f"0 {null}\t{p}\0"
            for p in journal.changed
        )
        self._in_temp_index().run("update-index", "-z", "--index-info", input=os.fsencode(lines))

    def prepare(self, journal: Journal) -> None:
        self.build_index(journal)
        if journal.written:
            self._in_temp_index().run(
                "checkout-index", f"--prefix={journal.staging}/new/", "--stdin", "-z",
                input=b"".join(os.fsencode(p) + b"\0" for p in journal.written),
            )
        partial = self.dir / "journal.json.tmp"
        partial.write_text(json.dumps(asdict(journal)))
        os.replace(partial, self.journal_file)

    def switch_files(self, journal: Journal) -> None:
        """Backups out, new files in; safe to repeat half-way."""
        top = self.git.top
        for n, path in enumerate(journal.changed):
            full, backup, staged = _places(top, journal, path)
            if path in journal.tracked and not os.path.lexists(backup):
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.rename(full, backup)
            if path in journal.written and os.path.lexists(staged):
                full.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staged, full)
            if n == 0:
                checkpoint("land-swapping")

    def restore_files(self, journal: Journal) -> None:
        checkpoint("land-rollback")
        top = self.git.top
        for path in reversed(journal.changed):
            full, backup, staged = _places(top, journal, path)
            if path in journal.written and not os.path.lexists(staged) and os.path.lexists(full):
                os.unlink(full)  # the new version, put there by switch_files
            if os.path.lexists(backup):
                full.parent.mkdir(parents=True, exist_ok=True)
                os.rename(backup, full)
        for directory in reversed(journal.new_dirs):
            try:
                os.rmdir(top / directory)
            except OSError:
                pass  # not empty or already gone: not ours to remove

    def refresh(self, journal: Journal) -> None:
        """Stat data for the new files, so git does not re-read them to see they are clean."""
        if journal.written:
            self._in_temp_index().run("add", "--refresh", "--", *journal.written)

    def move_ref(self, journal: Journal) -> None:
        deref = ["--no-deref"] if journal.ref == "HEAD" else []
        proc = self.git.run("update-ref", "-m", "paxx-patch: fast-forward", *deref,
                            journal.ref, journal.tip, journal.base, check=False)
        if proc.returncode != 0:
            raise PaxxError(
                f"{journal.ref} moved while paxx-patch was working (it is no longer "
                f"{journal.base[:12]}); nothing was changed. Run the command again."
            )

    def commit_index(self, journal: Journal) -> None:
        """The new index replaces the user's; no new index left means that was done."""
        if not self.temp_index.exists():
            pass
        elif self.owns_lock():
            os.replace(self.temp_index, self.index)
        else:  # after a crash someone removed the lock: redo the index on the one there now
            self.token = f"paxx-patch landing {os.getpid()} {secrets.token_hex(8)}\n"
            if not self._take_lock():
                raise TornError(_forward_help(self, journal, f"{self.lock} is taken"))
            self.build_index(journal)
            os.replace(self.temp_index, self.index)
        if self.owns_lock():
            self.lock.unlink()

    def reached(self, journal: Journal) -> bool:
        """Whether the tip is on the branch (moved there by us, maybe built upon since)."""
        proc = self.git.run("merge-base", "--is-ancestor", journal.tip, journal.ref, check=False)
        return proc.returncode == 0

    def finish(self, journal: Journal) -> None:
        for path in journal.changed:
            if path not in journal.written:  # a deletion: drop directories it emptied, as git does
                parent = Path(path).parent
                while parent != Path(".") and _rmdir(self.git.top / parent):
                    parent = parent.parent
        self.discard()

    def discard(self) -> None:
        if self.owns_lock():
            self.lock.unlink()
        shutil.rmtree(self.git.top / STAGING_IN_WORKTREE, ignore_errors=True)
        self.journal_file.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def staging(self) -> Path:
        """Renames stay on one file system: a working tree on another one than its git
        directory (a linked worktree elsewhere) gets the staging area at its top."""
        top = self.git.top
        if os.stat(top).st_dev == os.stat(self.dir).st_dev:
            return self.dir
        staging = top / STAGING_IN_WORKTREE
        shutil.rmtree(staging, ignore_errors=True)  # a killed run's: only paxx-patch uses the name
        staging.mkdir()
        return staging

    def settle(self) -> bool:
        """Roll back or complete whatever is on disk; True when the change landed."""
        journal = self.read_journal()
        if journal is None:  # nothing outside the transaction directory was touched
            self.discard()
            return False
        if self.reached(journal):
            try:
                self.switch_files(journal)
                self.commit_index(journal)
            except OSError as e:
                raise TornError(_forward_help(self, journal, str(e))) from e
            self.finish(journal)
            return True
        try:
            self.restore_files(journal)
        except OSError as e:
            raise TornError(_back_help(self, journal, str(e))) from e
        self.discard()
        return False


def land_on_head(
    git: Git, base: str, tip: str, touched: Sequence[str], elsewhere: bool = True,
    publish: Callable[[], None] = lambda: None,
) -> list[str]:
    """Move the current branch from `base` to `tip` and update the touched paths in the
    index and working tree, as one transaction; returns warnings for the user.
    `elsewhere`: refusals may point at --branch and -o (the command has them).
    `publish` puts the new objects in the repository: called right before the branch
    moves, so a landing that stops earlier leaves none."""
    obstacles.refuse_in_progress(git, elsewhere)
    ref = git.head_ref() or "HEAD"
    landing = Landing(git)
    warnings: list[str] = []
    try:
        with deferred():
            landing.begin()
        checkpoint("land-locked")
        if git.head() != base:
            raise PaxxError(
                f"{ref} moved while paxx-patch was working (it is no longer {base[:12]}); "
                "nothing was changed. Run the command again."
            )
        obstacles.refuse_dirty(git, touched, elsewhere)
        before, after = _entries(git, base, touched), _entries(git, tip, touched)
        changed = [p for p in sorted(touched) if before.get(p) != after.get(p)]
        written = [p for p in changed if p in after]
        new_dirs = obstacles.refuse_in_the_way(git.top, changed, written, before, elsewhere)
        staging = landing.staging()
        obstacles.refuse_other_file_systems(git.top, changed, staging, elsewhere)
        journal = Journal(ref, base, tip, changed, [p for p in changed if p in before],
                          written, new_dirs, str(staging))
        landing.prepare(journal)
        checkpoint("land-prepared")
        with deferred():
            raise_if_pending()
            landing.switch_files(journal)
            checkpoint("land-swapped")
            landing.refresh(journal)
            checkpoint("land-refreshed")
            raise_if_pending()
            publish()
            landing.move_ref(journal)
            landing.moved = True
            record_landed(_landed_text(journal))
            checkpoint("land-ref")
            landing.commit_index(journal)
            checkpoint("land-index")
            landing.finish(journal)
            checkpoint("land-done")
    except BaseException as e:
        with deferred():
            landed = landing.started and landing.settle() or landing.moved
        if not landed:
            if isinstance(e, OSError | GitError):
                raise PaxxError(_failed(e, git.top)) from e
            raise
        if not isinstance(e, OSError | PaxxError):
            raise  # an interrupt (the message says the change landed), or a bug
        warnings.append(f"warning: {e}; the landing was completed after it.")
    return warnings + _post_checkout(git, base, tip)


def _failed(e: BaseException, top: Path) -> str:
    return (
        f"could not write the change into your checkout: {e}{_space_left(top)}. Branch, "
        "index and files were put back as they were; nothing was changed."
    )


def _space_left(top: Path) -> str:
    """git's own words for a full disk are often only "unable to write file X": say it."""
    try:
        stat = os.statvfs(top)
    except OSError:
        return ""
    free = stat.f_bavail * stat.f_frsize
    if free >= 1 << 20:
        return ""
    return (f" (the file system holding {top} has {free // 1024} KiB of space left: "
            "free some and run again)")


def _landed_text(journal: Journal) -> str:
    return f"{journal.ref} is at {journal.tip[:10]} (was {journal.base[:10]})"


def _post_checkout(git: Git, base: str, tip: str) -> list[str]:
    """git runs post-checkout when it updates the working tree; a hook that fails
    cannot undo a checkout, so it is a warning here too."""
    proc = git.run("hook", "run", "--ignore-missing", "post-checkout", "--", base, tip, "1",
                   check=False)
    if proc.returncode != 0 and b"is not a git command" in proc.stderr:
        return []  # git before 2.36 has no `git hook`; its checkout would have run it
    if output := proc.stdout + proc.stderr:
        # as text: sys.stderr may be a stream without a byte buffer (an embedding caller)
        sys.stderr.write(output.decode(errors="replace"))
    if proc.returncode == 0:
        return []
    return [f"warning: the post-checkout hook exited {proc.returncode}; the change landed."]


def recover(git: Git) -> None:
    """Settle a landing left by a run that was killed outright."""
    landing = Landing(git)
    if not landing.dir.exists():
        return
    journal = landing.read_journal()
    with deferred():
        landed = landing.settle()
    if journal is not None:
        done = "completed" if landed else "rolled back"
        print(f"paxx-patch: note: an earlier run was stopped while landing {journal.tip[:10]} "
              f"on {journal.ref}; its landing was {done}.", file=sys.stderr)


def _entries(git: Git, commit: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    """path -> (mode, object id) in `commit`, for those of `paths` it has as files."""
    return {path: (e.mode, e.oid) for path, e in git.entries(commit, paths).items() if e.kind == "blob"}


def _places(top: Path, journal: Journal, path: str) -> tuple[Path, Path, Path]:
    """The path in the working tree, its backup, and its new version waiting."""
    return top / path, Path(journal.staging) / "old" / path, Path(journal.staging) / "new" / path


def _rmdir(directory: Path) -> bool:
    try:
        directory.rmdir()
    except OSError:
        return False
    return True


def _back_help(landing: Landing, journal: Journal, error: str) -> str:
    added = [p for p in journal.changed if p not in journal.tracked]
    steps = [_command("rm -f", str(landing.lock))] if landing.owns_lock() else []
    steps += [_command("git checkout", journal.base, "--", *journal.tracked)] if journal.tracked else []
    steps += [_command("rm -f", *added)] if added else []
    steps += [_command("rmdir", *reversed(journal.new_dirs))] if journal.new_dirs else []
    return (
        f"landing failed and so did putting your files back ({error}). Your branch and "
        f"index are as they were; your original files are in {journal.staging}/old. "
        "Restore the working tree with:\n"
        + _listing([*steps, _command("rm -rf", journal.staging, str(landing.dir))])
    )


def _forward_help(landing: Landing, journal: Journal, error: str) -> str:
    deleted = [p for p in journal.changed if p not in journal.written]
    steps = [_command("rm -f", str(landing.lock))] if landing.owns_lock() else []
    steps += [_command("git reset -q --", *journal.changed)]
    steps += [_command("git checkout HEAD --", *journal.written)] if journal.written else []
    steps += [_command("rm -f", *deleted)] if deleted else []
    return (
        f"{journal.ref} moved to {journal.tip[:12]} with the change, but the index and files "
        f"could not follow ({error}). When no other git process is running, finish with:\n"
        + _listing([*steps, _command("rm -rf", journal.staging, str(landing.dir))])
    )


def _command(program: str, *args: str) -> str:
    return " ".join([program, *map(shlex.quote, args)])


def _listing(steps: list[str]) -> str:
    return "\n".join(f"  {step}" for step in steps)


def pick_onto_head(
    git: Git, start: str, tip: str, touched: Sequence[str], what: str,
    publish: Callable[[], None] = lambda: None,
) -> None:
    """Cherry-pick start..tip onto HEAD; git leaves conflicts for the user. git runs with
    interrupts deferred, so a Ctrl-C cannot stop it half-way through a file."""
    obstacles.refuse_in_progress(git)
    obstacles.refuse_dirty(git, touched)
    obstacles.refuse_in_the_way(git.top, touched, _entries(git, tip, touched),
                                _entries(git, "HEAD", touched))
    if (git.git_dir / "index.lock").exists():
        raise PaxxError(
            f"{git.git_dir / 'index.lock'} exists: another git process is working in this "
            "repository. Wait for it to finish and run again. Nothing was changed."
        )
    publish()
    with deferred():
        replay.cherry_pick(git, start, tip, what)
        record_landed(f"the {what} is on {git.head_ref() or 'HEAD'}")
