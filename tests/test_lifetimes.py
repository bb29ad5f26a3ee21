"""Lifetime rules: their fixes applied to the source, and the model of allocation families."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalloclint.config import Settings
from kalloclint.engine import run
from kalloclint.model import ModelError, load_model

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def model():
    return load_model()


def fixed(path: Path, code: str, model, line: int) -> tuple[str, str]:
    """The finding's line after its fix is applied to the file's bytes, and the fix's applicability."""
    result = run([str(path)], Settings(select=[code]), model)
    finding = next(f for f in result.findings if f.location.line == line)
    data = path.read_bytes()
    for edit in sorted(finding.fix.edits, key=lambda e: e.start, reverse=True):
        data = data[:edit.start] + edit.text.encode() + data[edit.end:]
    return data.decode().splitlines()[line - 1].strip(), finding.fix.applicability


def test_free_mismatch_fix_calls_the_matching_free(model):
    path = FIXTURES / "kal301_free_mismatch.c"
    assert fixed(path, "KAL301", model, 56) == ("vfree(priv->rx_ring);\t\t/* expect: KAL301 */", "unsafe")
    assert fixed(path, "KAL301", model, 57) == ("kvfree(priv->tx_ring);\t\t/* expect: KAL301 */", "safe")
    line, applicability = fixed(path, "KAL301", model, 127)
    assert line.startswith("__free_pages((unsigned long)priv->lut_page, 1);") and applicability == "unsafe"


def test_free_mismatch_fix_drops_the_cache_argument(model):
    line, _ = fixed(FIXTURES / "kal301_free_mismatch.c", "KAL301", model, 147)
    assert line.startswith("kfree(priv->ext);")


def test_free_mismatch_fix_is_kvfree_when_both_families_reach_the_free(model):
    line, applicability = fixed(FIXTURES / "kal301_free_mismatch.c", "KAL301", model, 162)
    assert line.startswith("kvfree(t);") and applicability == "safe"


def test_kfree_sensitive_fix_drops_the_memset_and_renames_the_free(model):
    path = FIXTURES / "kal407_prefer_kfree_sensitive.c"
    result = run([str(path)], Settings(select=["KAL407"]), model)
    finding = next(f for f in result.findings if f.location.line == 19)
    data = path.read_bytes()
    for edit in sorted(finding.fix.edits, key=lambda e: e.start, reverse=True):
        data = data[:edit.start] + edit.text.encode() + data[edit.end:]
    lines = data.decode().splitlines()
    assert lines[17].strip() == "" and lines[18].strip().startswith("kfree_sensitive(key->material);")
    assert finding.fix.applicability == "safe"


def test_kmemdup_fix_rewrites_the_allocation(model):
    path = FIXTURES / "kal408_prefer_kmemdup.c"
    assert fixed(path, "KAL408", model, 25)[0].startswith("priv->fw = kmemdup(fw->data, fw->size, GFP_KERNEL);")
    assert fixed(path, "KAL408", model, 37)[0].startswith(
        "c = devm_kmemdup(priv->dev, &priv->cfg, sizeof(*c), GFP_KERNEL);")


def test_kvfree_fix_replaces_the_free_choice(model):
    line, applicability = fixed(FIXTURES / "kal406_prefer_kvmalloc.c", "KAL406", model, 30)
    assert line == "kvfree(t->entries);" and applicability == "safe"


def test_a_family_must_be_defined(tmp_path):
    extra = tmp_path / "mine.toml"
    extra.write_text('[alloc.my_alloc]\nfamily = "mine"\nlimit = "none"\nreturns = "void *"\n')
    with pytest.raises(ModelError, match="family 'mine' is not defined"):
        load_model((str(extra),))


def test_a_users_allocator_and_free_pair_is_followed(tmp_path):
    extra = tmp_path / "mine.toml"
    extra.write_text('[alloc.my_alloc]\nfamily = "mine"\nlimit = "none"\nreturns = "void *"\n'
                     '[free.my_free]\nptr = 0\nfamilies = ["mine"]\n'
                     '[family.mine]\nfrees = ["my_free"]\nwhat = "pool memory"\n')
    source = tmp_path / "x.c"
    source.write_text("void f(void)\n{\n\tvoid *p = my_alloc();\n\n\tkfree(p);\n}\n"
                      "void g(void)\n{\n\tvoid *p = my_alloc();\n\n\tmy_free(p);\n}\n")
    result = run([str(source)], Settings(select=["KAL301"]), load_model((str(extra),)))
    assert [(f.location.line, f.message) for f in result.findings] == [
        (5, "'p' was allocated with my_alloc() at line 3; kfree() cannot free pool memory — use my_free()")]
