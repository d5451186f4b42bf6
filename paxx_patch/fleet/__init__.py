"""The fleet: paxx-patch across many repositories, on all-repos.

`autofix` is an all-repos autofixer: it runs one paxx-patch verb in a fresh clone
of each repository and pushes the per-mutator commits through the push backend
the all-repos config names. `status` reads the clones all-repos keeps (no
network) and reports which component versions each repository runs, which
owned files were edited by hand, and what drifts from a policy.

Both need the `fleet` extra: `pip install 'paxx-patch[fleet]'`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

USAGE = "usage: paxx-patch fleet {autofix,status} ...  (paxx-patch fleet autofix --help)"


def main(argv: Sequence[str]) -> int:
    """`paxx-patch fleet autofix|status ARGS`: the all-repos tools of paxx-patch."""
    from paxx_patch.runtime.errors import EXIT_BAD_INPUT, PaxxError

    verb, *rest = argv or [""]
    if verb in {"-h", "--help"}:
        print(USAGE)
        return 0
    if verb not in {"autofix", "status"}:
        raise PaxxError(f"paxx-patch fleet: {verb or 'no command'} is not a fleet command; use "
                        "`paxx-patch fleet autofix VERB NAME...` or `paxx-patch fleet status` "
                        "(each with --help).")
    try:
        import all_repos  # noqa: F401
    except ImportError:
        print("paxx-patch fleet needs all-repos: pip install 'paxx-patch[fleet]'")
        return EXIT_BAD_INPUT
    if verb == "autofix":
        from paxx_patch.fleet.autofix import main as autofix

        return autofix(rest)
    from paxx_patch.fleet.status import main as status

    return status(rest)


def load(config_filename: str) -> Any:
    """all-repos' config, its own refusals as paxx-patch errors (exit 2, nothing done)."""
    from all_repos.config import load_config

    from paxx_patch.runtime.errors import PaxxError

    try:
        return load_config(config_filename)
    except FileNotFoundError as e:
        raise PaxxError(f"{config_filename}: no all-repos config there ({e.strerror}); name "
                        "yours with -C FILE (all-repos' config: output_dir, source, push).") from None
    except (KeyError, ValueError) as e:
        raise PaxxError(f"{config_filename}: not an all-repos config ({type(e).__name__}: {e}); it "
                        "needs output_dir, source, source_settings, push and push_settings.") from None
    except SystemExit as e:  # all-repos says what is wrong: permissions, the output directory
        raise PaxxError(f"{config_filename}: {e.code}") from None
