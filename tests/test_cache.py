"""The result cache: reused while nothing it depends on changed, recomputed when anything did."""

from __future__ import annotations

from pathlib import Path

from kalloclint.config import Settings
from kalloclint.engine import run
from kalloclint.model import load_model

HEADER = "#define RING_LEN 16\n"
SOURCE = '#include "ring.h"\nvoid f(int n) { void *p = kmalloc(n * RING_LEN, GFP_KERNEL); }\n'


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ring.h").write_text(HEADER)
    (src / "ring.c").write_text(SOURCE)
    return src


def _codes(result) -> list[tuple[str, int, str]]:
    return [(Path(f.path).name, f.location.line, f.code) for f in result.findings]


def test_warm_run_reuses_results_and_gives_the_same_findings(tmp_path, monkeypatch):
    src, cache = _tree(tmp_path), tmp_path / "cache"
    model = load_model()
    cold = run([str(src)], Settings(), model, cache_dir=str(cache))
    assert (cache / ".gitignore").is_file() and list(cache.glob("*/*.pkl"))
    import kalloclint.engine as engine

    def fail(*_):
        raise AssertionError("a cached file was analysed again")

    monkeypatch.setattr(engine, "_analyse", fail)
    warm = run([str(src)], Settings(), model, cache_dir=str(cache))
    assert _codes(warm) == _codes(cold) == [("ring.c", 2, "KAL201")]


def test_a_changed_file_or_header_is_analysed_again(tmp_path):
    src, cache = _tree(tmp_path), tmp_path / "cache"
    model = load_model()
    run([str(src)], Settings(), model, cache_dir=str(cache))
    (src / "ring.c").write_text(SOURCE.replace("n * RING_LEN", "RING_LEN"))
    assert _codes(run([str(src)], Settings(), model, cache_dir=str(cache))) == []
    (src / "ring.c").write_text(SOURCE)
    assert _codes(run([str(src)], Settings(), model, cache_dir=str(cache))) == [("ring.c", 2, "KAL201")]


def test_a_corrupt_entry_is_recomputed_not_trusted(tmp_path):
    src, cache = _tree(tmp_path), tmp_path / "cache"
    model = load_model()
    run([str(src)], Settings(), model, cache_dir=str(cache))
    for entry in cache.glob("*/*.pkl"):
        entry.write_bytes(entry.read_bytes()[:40])
    result = run([str(src)], Settings(), model, cache_dir=str(cache))
    assert _codes(result) == [("ring.c", 2, "KAL201")] and not result.diagnostics


def test_another_selection_does_not_reuse_results(tmp_path):
    src, cache = _tree(tmp_path), tmp_path / "cache"
    model = load_model()
    run([str(src)], Settings(select=["KAL4"]), model, cache_dir=str(cache))
    assert _codes(run([str(src)], Settings(), model, cache_dir=str(cache))) == [("ring.c", 2, "KAL201")]


def test_an_unwritable_cache_only_costs_speed(tmp_path):
    src = _tree(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = run([str(src)], Settings(), load_model(), cache_dir=str(blocker / "cache"))
    assert _codes(result) == [("ring.c", 2, "KAL201")] and not result.diagnostics


def test_a_changed_header_invalidates_the_files_that_read_it(tmp_path):
    src, cache = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    (src / "sizes.h").write_text("#define BUF_LEN 8192\n")
    (src / "buf.c").write_text('#include "sizes.h"\nvoid *g(void) { return kmalloc(BUF_LEN, GFP_KERNEL); }\n')
    model = load_model()
    first = run([str(src / "buf.c")], Settings(), model, cache_dir=str(cache))
    assert [f.code for f in first.findings] == ["KAL206"]
    (src / "sizes.h").write_text("#define BUF_LEN 64\n")
    assert run([str(src / "buf.c")], Settings(), model, cache_dir=str(cache)).findings == []


WRAPPERS = "void hw_lock(struct hw *h) { spin_lock(&h->lock); }\nvoid hw_unlock(struct hw *h) { spin_unlock(&h->lock); }\n"
CALLER = "static void poke(struct hw *h)\n{\n\thw_lock(h);\n\tmsleep(1);\n\thw_unlock(h);\n}\n"


def test_a_lock_wrapper_changed_in_another_file_is_seen_by_its_callers(tmp_path):
    """The caller's cached result depends on the wrappers it calls from other files."""
    src, cache = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    (src / "hw.c").write_text(WRAPPERS)
    (src / "poke.c").write_text(CALLER)
    model = load_model()
    assert _codes(run([str(src)], Settings(), model, cache_dir=str(cache))) == [("poke.c", 4, "KAL103")]
    (src / "hw.c").write_text(WRAPPERS.replace("spin_lock(&h->lock)", "mutex_lock(&h->mutex)"))
    assert _codes(run([str(src)], Settings(), model, cache_dir=str(cache))) == []
    (src / "hw.c").write_text(WRAPPERS)
    assert _codes(run([str(src)], Settings(), model, cache_dir=str(cache), jobs=2)) == [("poke.c", 4, "KAL103")]


def test_a_warm_parallel_run_sends_only_the_changed_file_to_the_workers(tmp_path, monkeypatch):
    src, cache = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    for i in range(12):
        (src / f"f{i:02}.c").write_text(f"void f{i}(int n) {{ void *p = kmalloc(n * {i + 2}, GFP_KERNEL); }}\n")
    model = load_model()
    cold = run([str(src)], Settings(), model, cache_dir=str(cache), jobs=2)
    import kalloclint.engine as engine

    sent: list[str] = []
    checked = engine._checked

    def recording(inputs, jobs):
        sent.extend(path for path, _ in inputs)
        return checked(inputs, jobs)

    monkeypatch.setattr(engine, "_checked", recording)
    (src / "f05.c").write_text("void f5(int n) { void *p = kmalloc(8, GFP_KERNEL); }\n")
    warm = run([str(src)], Settings(), model, cache_dir=str(cache), jobs=2)
    assert [Path(p).name for p in sent] == ["f05.c"]
    assert _codes(warm) == [c for c in _codes(cold) if c[0] != "f05.c"] and len(_codes(cold)) == 12


def test_a_fifo_named_on_a_warm_run_is_not_read_for_the_cache(tmp_path):
    import os
    import signal

    src, cache = _tree(tmp_path), tmp_path / "cache"
    model = load_model()
    run([str(src)], Settings(), model, cache_dir=str(cache))
    os.mkfifo(src / "pipe.c")  # opening it to read would wait for a writer forever

    class Blocked(Exception):  # not an OSError, which the run would take for an unreadable file
        pass

    def blocked(*_):
        raise Blocked("the run blocked opening a FIFO")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        result = run([str(src / "pipe.c"), str(src / "ring.c")], Settings(), model, cache_dir=str(cache))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert _codes(result) == [("ring.c", 2, "KAL201")]
    assert [d.message for d in result.diagnostics] == ["not a regular file (FIFO, socket or device), skipped"]
