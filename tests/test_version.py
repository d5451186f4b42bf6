"""The one version parser: bundle versions, lock records and release tags."""

from __future__ import annotations

import pytest

from paxx_patch.bundle import version
from paxx_patch.runtime.errors import PaxxError


@pytest.mark.parametrize(("tag", "release"), [
    ("v1.2.0", (1, 2, 0)), ("1.2.0", (1, 2, 0)), ("v10.0.3", (10, 0, 3)),
    ("v1.2.0-rc.1", None), ("1.2", None), ("01.2.3", None), ("vv1.2.3", None),
    ("1.2.3 ", None), ("1" * 5000 + ".0.0", None), ("release-1.2.3", None),
])
def test_release_tags(tag: str, release: tuple[int, int, int] | None) -> None:
    assert version.release(tag) == release


def test_order_puts_a_pre_release_before_its_release_and_compares_numbers() -> None:
    ordered = ["0.9.0", "1.2.0-rc.1", "1.2.0", "1.10.0", "2.0.0-alpha", "2.0.0"]
    assert sorted(ordered, key=version.order) == ordered
    assert version.is_version("1.2.0-rc.1") and not version.is_version("v1.2.0")


@pytest.mark.parametrize("text", ["", "1.2", "v1.2.0", "1.2.3.4", "9" * 10 + ".0.0", "1.0.0-"])
def test_what_is_not_a_version_is_a_clear_error(text: str) -> None:
    with pytest.raises(PaxxError, match="not a semantic version"):
        version.order(text)
