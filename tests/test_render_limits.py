"""A bundle template cannot hang a run, fill its memory or crash it: each limit of
rendering (time, output per file and per bundle, nested calls, range size) is a
clear exit 2 naming the template and the limit, and nothing is changed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from paxx_patch.bundle import limits as render_limits
from tests.conftest import ROOT

TEMPLATE = "templates/cache.py.j2"


def bundle_with(tmp_path: Path, template: str) -> Path:
    root = tmp_path / "bundles"
    shutil.copytree(ROOT / "bundles" / "redis", root / "redis")
    (root / "redis" / TEMPLATE).write_text(template)
    return root


def refused(run, state, repo: Path, bundles: Path, expect: str) -> str:
    before = state(repo)
    started = time.monotonic()
    code, out, err = run(repo, "add", "redis", "--commit", "--no-lock", "--bundle-path", str(bundles))
    assert code == 2, (out, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert f"{bundles / 'redis' / TEMPLATE}:" in err, err  # the template, named
    assert expect in err, err
    assert err.endswith("Fix the bundle.\n"), err
    assert state(repo) == before
    return err + f"\n{time.monotonic() - started:.1f} s"


@pytest.mark.parametrize(("template", "expect"), [
    ("{% for i in range(10**9) %}{% endfor %}\n",
     "range() of 1000000000 items, over the limit of 10000"),
    ("{{ 'x' * 10**9 }}\n", "makes a sequence with `*` 1000000000 long, over the limit of 1048576"),
    (("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
      "{% endfor %}{{ ns.s }}\n"), "the namespace attribute `s` 2097152 long"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}\n", "nests calls more than 40 deep"),
    ("{{ 'a'|center(10**9) }}\n", "passes 1000000000 to the filter `center`"),
    ("{{ 'a'.ljust(10**9) }}\n", "passes 1000000000 to str.ljust"),
    ("{{ '%0*d' % (10**9, 1) }}\n", "passes 1000000000 to `%` formatting"),
    ("{{ 2 ** 1000000 }}\n", "computes 2 ** 1000000, a number over 4096 bits"),
    ("{{ 'x' * 10**6 }}{{ 'y' * 10**6 }}\n", "writes more than 1048576 characters"),
    ("{% for i in range(10000) %}{{ 'x' * 10000 }}{% endfor %}\n",  # 100 MB
     "writes more than 1048576 characters"),
    ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}\n", "nests too deeply for Python to follow"),
    ("{{ 1 // 0 }}\n", "an expression fails: ZeroDivisionError"),  # a crash before
])
def test_a_template_past_a_limit_is_refused(
    sample_repo: Path, tmp_path: Path, run, state, template: str, expect: str
) -> None:
    err = refused(run, state, sample_repo, bundle_with(tmp_path, template), expect)
    assert "bundles render within" in err or "ZeroDivisionError" in err


def test_the_line_of_the_template_is_named(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundles = bundle_with(tmp_path, "one\ntwo\n{{ 'x' * 10**9 }}\n")
    assert f"{TEMPLATE}:3: cannot render the template:" in refused(
        run, state, sample_repo, bundles, "over the limit")


def test_a_loop_no_hook_sees_is_stopped_by_the_clock(
    sample_repo: Path, tmp_path: Path, run, state, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_limits, "MAX_SECONDS", 1.0)
    bundles = bundle_with(tmp_path, "{% set xs = range(10000)|list %}{% for a in xs %}"
                          "{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}\n")
    report = refused(run, state, sample_repo, bundles, "ran longer than 1 s")
    assert float(report.rsplit("\n", 1)[1].split()[0]) < 30  # not minutes


def test_the_output_of_all_templates_together_is_limited(
    sample_repo: Path, tmp_path: Path, run, state
) -> None:
    bundles = bundle_with(tmp_path, "{{ 'x' * 1000000 }}\n")
    toml = bundles / "redis" / "bundle.toml"
    extra = "".join(f'"part{i}.py" = "cache.py.j2"\n' for i in range(9))
    toml.write_text(toml.read_text().replace('[templates]\n', f'[templates]\n{extra}', 1))
    before = state(sample_repo)
    code, out, err = run(sample_repo, "add", "redis", "--commit", "--no-lock",
                         "--bundle-path", str(bundles))
    assert code == 2, (out, err)
    assert "write more than 8388608 characters together" in err, err
    assert state(sample_repo) == before


def test_ordinary_templates_render_as_before(sample_repo: Path, tmp_path: Path, run) -> None:
    bundles = bundle_with(tmp_path, (
        "{% for i in range(3) %}{{ loop.index }}{% endfor %} {{ range(4)|list|length }} "
        "{{ range(3)|reverse|join(',') }} {{ '-' * 20 }} {{ 'a'|center(9) }} {{ 2 ** 10 }} "
        "{{ '%03d' % 7 }}\n"))
    code, out, err = run(sample_repo, "add", "redis", "--commit", "--no-lock", "-q",
                         "--bundle-path", str(bundles))
    assert code == 0, (out, err)
    text = (sample_repo / "services" / "cache.py").read_text()
    assert text == f"123 4 2,1,0 {'-' * 20}     a     1024 007\n"
