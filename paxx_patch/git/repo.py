"""Run git in the user's repository with a clean environment."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paxx_patch.git.batch import parse_batch
from paxx_patch.runtime.errors import PaxxError, git_failed, git_not_run

# What `git rev-parse --local-env-vars` prints: the variables that tie a git
# process to one repository. Hooks run inside git and leak them (GIT_INDEX_FILE
# above all), so they are dropped; identity and config variables are kept.
_LOCAL_ENV = frozenset({
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
    "GIT_QUARANTINE_PATH",
})
_LOCAL_ENV_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")


def clean_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if k not in _LOCAL_ENV and not k.startswith(_LOCAL_ENV_PREFIXES)
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


@dataclass(frozen=True)
class Git:
    """A repository: its top-level directory and its git directory."""

    top: Path
    git_dir: Path
    env: dict[str, str]
    # `sha1` or `sha256` where `discover` read it with the repository; "" asks git
    hash_format: str = ""
    # (commit id, paths) -> `entries`: a commit's tree never changes
    _listed: dict[tuple[str, tuple[str, ...]], dict[str, Entry]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        proc = run_git(["--literal-pathspecs", *args], cwd=cwd or self.top, env=self.env,
                       input=input)
        if check and proc.returncode != 0:
            raise git_failed(args, proc.stderr, proc.returncode)
        return proc

    def out(self, *args: str, input: bytes | None = None) -> str:
        return self.run(*args, input=input).stdout.decode().strip()

    def head(self) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def head_ref(self) -> str | None:
        """refs/heads/NAME, or None when HEAD is detached."""
        proc = self.run("symbolic-ref", "-q", "HEAD", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def object_format(self) -> str:
        """`sha1` or `sha256`: the hash of this repository's object ids."""
        if self.hash_format:
            return self.hash_format
        proc = self.run("rev-parse", "--show-object-format", check=False)
        return _hash_format(proc.stdout.decode().strip() if proc.returncode == 0 else "")

    def entries(self, commit: str, paths: Sequence[str]) -> dict[str, Entry]:
        """path -> Entry of those of `paths` that `commit`'s tree has (`ls-tree -z`: a
        directory asked for is listed as a tree; git lists what it holds where a deeper
        path is asked for too). One ls-tree per commit id and set of paths."""
        if not paths:
            return {}
        key = (commit, tuple(paths))
        if key in self._listed:
            return self._listed[key]
        out = self.run("ls-tree", "-z", "--full-tree", commit, "--", *paths).stdout
        found: dict[str, Entry] = {}
        for record in out.split(b"\0"):
            if record:
                meta, _, name = record.partition(b"\t")
                mode, kind, oid = meta.decode().split()
                found[name.decode("utf-8", "surrogateescape")] = Entry(mode, kind, oid)
        if _OID.fullmatch(commit):
            self._listed[key] = found
        return found

    def cat_blobs(self, oids: list[str]) -> dict[str, bytes]:
        """Object contents (blobs, or raw commits) by id from one `cat-file --batch`;
        absent ones are left out."""
        if not oids:
            return {}
        out = self.run("cat-file", "--batch", input="".join(f"{o}\n" for o in oids).encode()).stdout
        return {oid: found[1] for oid, found in zip(oids, parse_batch(out, len(oids)), strict=True)
                if found is not None}

    def ident(self, kind: str = "COMMITTER") -> str:
        """`Name <email> epoch tz`, or a PaxxError telling how to set an identity."""
        proc = self.run("var", f"GIT_{kind}_IDENT", check=False)
        if proc.returncode != 0:
            raise PaxxError(
                f"git has no identity for you in {self.top}, and commits on your branch "
                "must carry it. Set one with `git config user.name \"Your Name\"` and "
                "`git config user.email you@example.com` (add --global for all repositories)."
            )
        return proc.stdout.decode().strip()


@dataclass(frozen=True)
class Entry:
    """One entry of a tree: `100644`, `blob`, its object id."""

    mode: str
    kind: str  # blob, tree or commit (a submodule)
    oid: str


_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _hash_format(said: str) -> str:
    return said if said in ("sha1", "sha256") else "sha1"


def run_git(
    args: list[str], *, cwd: Path, env: dict[str, str], input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Every git process paxx-patch starts in a repository starts here: a git that
    cannot be started is a GitError (exit 2) saying so, not a crash."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, env=env, input=input,
                              capture_output=True, check=False)
    except OSError as e:
        if e.filename not in (None, "git"):
            raise  # the directory it was to run in: the caller's to explain
        raise git_not_run(args, e) from None


class CatFile:
    """One `git cat-file --batch` for a whole run: objects by name (`BASE:PATH`), one
    round trip each (a name written, its answer read before the next), so that reading
    a file costs no process of its own. Started on first use; it ends with its input,
    when `close` is called or paxx-patch exits."""

    ARGS = ("cat-file", "--batch")

    def __init__(self, git: Git) -> None:
        self._git = git
        self._proc: subprocess.Popen[bytes] | None = None

    def get(self, name: str) -> tuple[bytes, bytes] | None:
        """(object type, content) of `name`; None when git has no such object. `name`
        must hold no newline (the protocol's separator)."""
        proc = self._open()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline()
        except OSError:
            header = b""
        if not header.endswith(b"\n"):
            code = proc.poll()
            raise git_failed(list(self.ARGS), b"it ended before answering", 1 if code is None else code)
        if header.endswith((b" missing\n", b" ambiguous\n")):
            return None
        _, kind, size = header.rstrip(b"\n").rsplit(b" ", 2)
        content = proc.stdout.read(int(size) + 1)
        return kind, content[:-1]

    def _open(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            try:
                self._proc = subprocess.Popen(
                    ["git", *self.ARGS], cwd=self._git.top, env=self._git.env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                )
            except OSError as e:
                if e.filename not in (None, "git"):
                    raise
                raise git_not_run(list(self.ARGS), e) from None
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass  # it ended already
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def discover(cwd: Path, *, from_environment: bool = True) -> Git:
    """The repository at `cwd`, or the one GIT_DIR (and GIT_WORK_TREE) name, as git
    itself would find it: the other repository variables are dropped (above), but
    these two are how a user points git at a repository, and `verify` honours them
    too. `from_environment=False` for a repository paxx-patch made itself."""
    env = clean_env()
    named = {key: os.environ[key] for key in ("GIT_DIR", "GIT_WORK_TREE")
             if from_environment and os.environ.get(key)}
    proc = run_git(["rev-parse", "--show-toplevel", "--absolute-git-dir", "--show-object-format"],
                   cwd=cwd, env={**env, **named})
    if proc.returncode != 0:
        said = git_failed(["rev-parse"], proc.stderr, proc.returncode)
        where = f"{cwd} (GIT_DIR={named['GIT_DIR']})" if "GIT_DIR" in named else str(cwd)
        raise PaxxError(
            f"{where} is not inside a git repository git can read ({said}). "
            "paxx-patch delivers its changes as commits: run `git init` and commit "
            "your project first, or run paxx-patch from inside the repository."
        )
    lines = proc.stdout.decode().splitlines()
    if len(lines) < 2 or not lines[0]:
        raise PaxxError(
            f"{cwd} is a bare repository or has no working tree; run paxx-patch "
            "inside a checkout."
        )
    if named:  # every later git process goes to the same repository, resolved
        env.update(GIT_DIR=lines[1], GIT_WORK_TREE=lines[0])
    return Git(top=Path(lines[0]), git_dir=Path(lines[1]), env=env,
               hash_format=_hash_format(lines[2] if len(lines) > 2 else ""))
