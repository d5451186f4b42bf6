"""paxx-patch bundle check DIR: validate a bundle, try it on the sample project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT


def bundle_copy(tmp_path: Path, name: str = "redis") -> Path:
    target = tmp_path / "authoring" / name
    shutil.copytree(ROOT / "bundles" / name, target)
    return target


def test_a_good_bundle_passes_and_shows_what_add_changes(tmp_path: Path, run) -> None:
    bundle = bundle_copy(tmp_path)
    code, out, err = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 0, out + err
    assert "a valid bundle (redis" in out
    assert "makes 7 commits" in out and "paxx(redis): add services/__init__.py, services/cache.py" in out
    assert "added: services/cache.py" in out and "modified: docker-compose.yml" in out
    assert "Python compiles: ok" in out
    if shutil.which("docker-compose"):
        assert "compose config: ok" in out
    assert "The bundle passes." in out
    assert not list(tmp_path.glob("authoring/redis/.git")), "the bundle directory is left alone"


def test_python_that_does_not_compile_fails_the_check(tmp_path: Path, run) -> None:
    bundle = bundle_copy(tmp_path)
    template = bundle / "templates" / "cache.py.j2"
    template.write_text(template.read_text() + "\ndef broken(:\n")
    code, out, _ = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 1
    assert "Python compiles: FAILED: services/cache.py" in out
    assert "1 check failed" in out or "checks failed" in out


def test_the_code_a_bundle_writes_for_a_component_it_observes_is_checked_too(tmp_path: Path, run) -> None:
    bundle = bundle_copy(tmp_path)
    template = bundle / "templates" / "cache.py.j2"
    template.write_text(template.read_text() + "{% if installed.metrics %}\ndef broken(:\n{% endif %}")
    code, out, _ = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 1, out
    assert "then `paxx-patch add metrics` renders again: services/cache.py" in out
    assert "Python compiles: ok" in out  # without metrics the file is fine
    assert "Python compiles (with metrics): FAILED: services/cache.py" in out


def test_unformatted_output_fails_the_ruff_check(tmp_path: Path, run) -> None:
    if not (shutil.which("ruff") or (Path(__import__("sys").executable).parent / "ruff").is_file()):
        pytest.skip("ruff is not installed")
    bundle = bundle_copy(tmp_path)
    template = bundle / "templates" / "cache.py.j2"
    template.write_text(template.read_text() + "\nx=[1,2 ,3]\n")
    code, out, _ = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 1
    assert "ruff format --check: FAILED" in out


@pytest.mark.parametrize(("edit", "expect"), [
    (('version = "', 'version = "x'), "key `version`"),
    (('name = "redis"', 'name = "redis"\nrun = "rm -rf /"'), "key `run`: unknown key"),
    (('"cache.py" = ', '"../cache.py" = '), "climbs out"),
    (('observes = ["metrics"]', 'observes = ["redis"]'), "key `observes`"),
    (('observes = ["metrics"]', 'observes = ["../metrics"]'), "key `observes`"),
    (('observes = ["metrics"]', 'observes = "metrics"'), "key `observes`"),
    (('observes = ["metrics"]', 'migration_imports = ["geo alchemy"]'), "key `migration_imports`"),
    (('observes = ["metrics"]', 'migration_imports = ["os; rm -rf /"]'), "key `migration_imports`"),
    (('observes = ["metrics"]', '[warn_when_found]\n"x" = "too short a piece of code"'), "key `warn_when_found.x`"),
    (('observes = ["metrics"]', '[warn_when_found]\n"Redis(" = "two\\nlines"'), "key `warn_when_found.Redis(`"),
])
def test_an_invalid_bundle_is_exit_2(tmp_path: Path, run, edit: tuple[str, str], expect: str) -> None:
    bundle = bundle_copy(tmp_path)
    toml = bundle / "bundle.toml"
    assert edit[0] in toml.read_text()
    toml.write_text(toml.read_text().replace(edit[0], edit[1], 1))
    code, out, err = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 2, out + err
    assert expect in err and "bundle.toml" in err


def test_a_template_that_does_not_render_is_exit_2(tmp_path: Path, run) -> None:
    bundle = bundle_copy(tmp_path)
    (bundle / "templates" / "cache.py.j2").write_text("{{ no_such_variable }}\n")
    code, _, err = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 2
    assert "cache.py.j2" in err and "no_such_variable" in err


def test_a_template_asking_for_a_component_it_does_not_observe_is_exit_2(tmp_path: Path, run) -> None:
    bundle = bundle_copy(tmp_path)
    template = bundle / "templates" / "cache.py.j2"
    template.write_text("{% if installed.storage %}x = 1\n{% endif %}" + template.read_text())
    code, _, err = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 2
    assert "cache.py.j2" in err and "does not observe storage; add it to `observes`" in err


def test_show_names_the_components_a_bundle_observes(tmp_path: Path, run) -> None:
    code, out, err = run(tmp_path, "show", "tasks")
    assert code == 0, out + err
    assert "observes metrics: its files are rendered again when metrics is added or removed" in out
    assert "observes" not in run(tmp_path, "show", "logging")[1]


def test_a_directory_without_a_bundle(tmp_path: Path, run) -> None:
    code, _, err = run(tmp_path, "bundle", "check", str(tmp_path))
    assert code == 2 and "no bundle.toml" in err


DOCS = ROOT / "docs" / "bundles.md"


def test_the_documented_example_bundle_passes(tmp_path: Path, run) -> None:
    import re

    text = DOCS.read_text()
    example = text[text.index("## A complete example"):text.index("## Checking a bundle")]
    toml, template, compose = (body for _, body in re.findall(r"```(\w+)\n(.*?)```", example, re.DOTALL)[:3])
    bundle = tmp_path / "our-cache"
    (bundle / "templates").mkdir(parents=True)
    (bundle / "bundle.toml").write_text(toml)
    (bundle / "templates" / "our_cache.py.j2").write_text(template)
    (bundle / "compose.yaml").write_text(compose)
    code, out, err = run(tmp_path, "bundle", "check", str(bundle))
    assert code == 0, out + err


def test_the_reference_names_every_key_the_validator_accepts() -> None:
    from paxx_patch.bundle import _KNOWN_KEYS, SETTING_TYPES

    text = DOCS.read_text()
    for key in (*_KNOWN_KEYS, *SETTING_TYPES, "middleware", "calls", "routes", "startup",
                "shutdown", "when", "pattern", "secret"):
        assert f"`{key}`" in text, key
