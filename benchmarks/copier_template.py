"""A one-file copier template repository, the counterpart of the redis bundle's cache.py.

Tags v1 and v2 differ in one line, as the 1.1.0 bundle of bench_compare.py does.
Used by bench_compare.py; not a benchmark by itself.
"""

from __future__ import annotations

from pathlib import Path

from bench_add import bump_docstring, git

COPIER_YML = """\
project_name:
  type: str
  default: shop
  help: the project's name
"""
ANSWERS = "# Changes here will be overwritten by Copier\n{{ _copier_answers|to_nice_yaml -}}\n"


def make_template(path: Path, cache_py: str) -> Path:
    """A git repository: copier.yml, lib/cache.py.jinja (cache_py) and the answers file."""
    (path / "lib").mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Bench")
    git(path, "config", "user.email", "bench@example.com")
    (path / "copier.yml").write_text(COPIER_YML)
    (path / "{{ _copier_conf.answers_file }}.jinja").write_text(ANSWERS)
    for tag, body in (("v1", cache_py), ("v2", bump_docstring(cache_py))):
        header = "# {{ project_name }}: cache helpers (template " + tag + ")\n"
        (path / "lib" / "cache.py.jinja").write_text(header + "{% raw %}" + body + "{% endraw %}")
        git(path, "add", "-A")
        git(path, "commit", "-qm", tag)
        git(path, "tag", tag)
    return path
