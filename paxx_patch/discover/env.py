"""The project's env example: the file of variables people copy to `.env`.

Rules: the configured `env_file`; else a file named like an example of `.env`
(`.env.example`, `.env.sample`, `.env.template`, `.env.dist`, `.env.docker`,
`.env-example`, `example.env`, ...) in the project directory, then beside the
compose file, then in the app's package, then anywhere else in the project outside
tests and JavaScript projects (a directory with a package.json: a frontend's
variables), the nearest first, then in a directory above the project; else a committed env file of one environment (`.env.dev`,
`.env.development`, `.env.local`, then `.env.docker*`, `.env.test`, `.env.staging`,
`.env.prod`...) in the project directory or beside the compose file, the development
one first; else a new `.env.example`, unless the repository commits a `.env`: that
file is never edited, and the variables are listed in a note.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from paxx_patch.discover import join
from paxx_patch.discover.compose import parents
from paxx_patch.discover.tree import Tree, common_depth, ignored

EXAMPLE = re.compile(
    r"(^|/)(\.env[.-](example|sample|template|dist|docker|defaults?|tpl|local\.example|"
    r"example\.local)|(example|sample|template)\.env|env\.(example|sample|template))$",
    re.IGNORECASE,
)

# committed env files of one environment, in the order their variables are added to
# when no example exists: the development one is what a newcomer copies
ENVIRONMENTS = ("dev", "development", "local", "docker", "test", "testing", "stage", "staging",
                "prod", "production")
_NAMES = "|".join(n + r"\w*" if n == "docker" else n for n in ENVIRONMENTS)  # `.env.dockerpg` too
PER_ENVIRONMENT = re.compile(rf"(^|/)\.env\.({_NAMES})$", re.IGNORECASE)


def _environment_rank(path: str) -> tuple[int, str]:
    suffix = posixpath.basename(path).split(".", 2)[2].lower()
    rank = next((i for i, name in enumerate(ENVIRONMENTS) if suffix.startswith(name)), len(ENVIRONMENTS))
    return rank, path


@dataclass(frozen=True)
class EnvFound:
    path: str  # "" when there is none to edit (only a committed .env)
    rule: str


def _javascript(tree: Tree, root: str, path: str) -> bool:
    """Whether `path` sits in a JavaScript project below the project directory (a
    directory with a package.json and no Python project file of its own)."""
    for directory in parents(posixpath.dirname(path)):
        if directory == root or not directory.startswith(f"{root}/" if root else ""):
            return False
        if join(directory, "package.json") in tree and not any(
            join(directory, name) in tree for name in ("pyproject.toml", "requirements.txt", "setup.py")
        ):
            return True
    return False


def find_env(tree: Tree, root: str, configured: str | None, compose: str, app_file: str | None) -> EnvFound:
    if configured:
        return EnvFound(join(root, configured), "configured env_file")
    found = [p for p in tree.named(EXAMPLE, ("env",)) if not ignored(p) or posixpath.dirname(p) == root]
    places = [
        (root, "in the project directory"),
        (posixpath.dirname(compose), "beside the compose file"),
        (posixpath.dirname(app_file) if app_file else None, "in the app's package"),
    ]
    for directory, rule in places:
        if directory is None:
            continue
        here = sorted(p for p in found if posixpath.dirname(p) == directory)
        if here:
            return EnvFound(here[0], f"env example {rule}")
    near = f"{root}/x" if root else "x"
    elsewhere = sorted(
        (p for p in found if (p.startswith(f"{root}/") or not root) and not _javascript(tree, root, p)),
        key=lambda p: (-common_depth(p, near), p.count("/"), p),
    )
    if elsewhere:
        return EnvFound(elsewhere[0], "env example nearest the project")
    for directory in parents(root)[1:]:  # a monorepo's, above the project
        above = sorted(p for p in found if posixpath.dirname(p) == directory)
        if above:
            return EnvFound(above[0], "env example in a directory above the project")
    per_environment = [p for p in tree.named(PER_ENVIRONMENT, ("env",)) if not ignored(p)]
    for directory, rule in places[:2]:
        here = sorted((p for p in per_environment if posixpath.dirname(p) == directory), key=_environment_rank)
        if here:
            return EnvFound(here[0], f"no env example; the env file of one environment {rule}")
    for directory in (root, posixpath.dirname(compose)):
        dotenv = join(directory, ".env")
        if dotenv in tree:
            return EnvFound("", f"only a committed {dotenv}, which paxx-patch never edits")
    return EnvFound(join(root, ".env.example"), "none in the project: created")
