"""The hook's quick lock reader agrees with tomllib wherever it answers."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from paxx_patch.manifest import ComponentRecord, Lock, parse_lock
from paxx_patch.manifest.reader import read_simple_toml

names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
texts = st.text(max_size=20)


@settings(max_examples=200)
@given(st.dictionaries(names, st.tuples(
    st.dictionaries(texts, st.from_regex(r"[0-9a-f]{40}", fullmatch=True), max_size=3),
    st.lists(texts, max_size=3),
    st.dictionaries(names, texts, max_size=2),
), max_size=3))
def test_what_dumps_writes_reads_back_the_same_both_ways(components: dict) -> None:
    lock = Lock({
        n: ComponentRecord(n, "1.0.0", files=f, ejected=e, entries={"compose": {"file": "c.yml", "x": e}},
                           variables=v)
        for n, (f, e, v) in components.items()
    })
    text = lock.dumps()
    quick = read_simple_toml(text)
    assert quick == tomllib.loads(text)


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(list('[]"\\=., \nabtu0x#-') + ["\t", "\x7f", "é"]), max_size=40))
def test_on_any_text_an_answer_is_tomllibs(text: str) -> None:
    quick = read_simple_toml(text)
    if quick is None:
        return
    assert quick == tomllib.loads(text)


def test_a_lock_in_another_style_falls_back_to_tomllib() -> None:
    text = '[components.redis]\nversion = "1.0.0"  # pinned\nfiles = { }\n'
    assert read_simple_toml(text) is None
    assert parse_lock(text).components["redis"].version == "1.0.0"
