"""--format github: workflow commands that GitHub Actions turns into annotations."""

from __future__ import annotations

import pytest

from kalloclint.cli import main
from kalloclint.findings import Finding, Related
from kalloclint.report import github
from kalloclint.source import Location, Span

BUGGY = """\
static int ring_init(void **out, size_t n)
{
	*out = kmalloc(n * 8, GFP_KERNEL | GFP_ATOMIC);
	return 0;
}
"""


def finding(severity: str, line: int, path: str = "drv/a.c", message: str = "m", related=()) -> Finding:
    code = {"error": "KAL101", "warning": "KAL201", "info": "KAL403"}[severity]
    return Finding(code, "some-rule", severity, message, path, Span(0, 1), Location(line, 3, line, 9),
                   related=tuple(related))


def test_escaping():
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


def test_annotation_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = finding("error", 12, str(tmp_path / "drivers" / "x,y.c"), "50% of 'a: b'\nsecond line",
                [Related(str(tmp_path / "drivers" / "z.c"), Location(4, 2, 4, 2), "lock taken here")])
    assert github.annotation(f) == (
        "::error file=drivers/x%2Cy.c,line=12,col=3,endLine=12,endColumn=9,title=KAL101 some-rule::"
        "50%25 of 'a: b'%0Asecond line%0Adrivers/z.c:4:2: lock taken here\n")


def test_multi_line_ranges_have_no_columns():
    f = Finding("KAL404", "needless-free-check", "info", "m", "a.c", Span(0, 1), Location(3, 2, 4, 12))
    assert github.annotation(f) == "::notice file=a.c,line=3,endLine=4,title=KAL404 needless-free-check::m\n"


def test_most_severe_first_within_githubs_limits():
    findings = [finding("info", n) for n in range(1, 13)] + [finding("warning", n) for n in range(20, 23)] \
        + [finding("error", n) for n in range(30, 42)]
    lines = github.render(findings).splitlines()
    annotations = [ln for ln in lines if ln.startswith("::") and "title=kalloclint::" not in ln]
    kinds = [ln[2:ln.index(" ")] for ln in annotations]
    assert kinds == ["error"] * 10 + ["warning"] * 3 + ["notice"] * 9
    assert [int(ln.split("line=")[1].split(",")[0]) for ln in annotations[:10]] == list(range(30, 40))
    plain = [ln for ln in lines if not ln.startswith("::")]
    assert plain == ["drv/a.c:40:3: error: m [KAL101 some-rule]", "drv/a.c:41:3: error: m [KAL101 some-rule]",
                     "drv/a.c:10:3: info: m [KAL403 some-rule]", "drv/a.c:11:3: info: m [KAL403 some-rule]",
                     "drv/a.c:12:3: info: m [KAL403 some-rule]"]
    assert lines[-1].startswith("::notice title=kalloclint::5 more findings (2 error, 3 info) have no annotation")


def test_no_summary_when_everything_fits():
    findings = [finding("info", n) for n in range(1, 11)] + [finding("error", 20)]
    lines = github.render(findings).splitlines()
    assert len(lines) == 11 and all(ln.startswith(("::notice file=", "::error file=")) for ln in lines)


def test_cli(tmp_path, monkeypatch, capsys):
    (tmp_path / "drv").mkdir()
    (tmp_path / "drv" / "buggy.c").write_text(BUGGY)
    monkeypatch.chdir(tmp_path)
    assert main(["--format", "github", str(tmp_path / "drv")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("::error file=drv/buggy.c,line=3,col=24,endLine=3,endColumn=47,"
                             "title=KAL501 gfp-conflict::GFP flags")
    assert out[1].startswith("::warning file=drv/buggy.c,line=3,col=17,")
    assert "title=KAL201 alloc-size-multiply::" in out[1]


@pytest.mark.parametrize("fmt", ["github"])
def test_statistics_is_one_notice(tmp_path, monkeypatch, capsys, fmt):
    (tmp_path / "buggy.c").write_text(BUGGY)
    monkeypatch.chdir(tmp_path)
    assert main(["--format", fmt, "--statistics", "buggy.c"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("::notice title=kalloclint statistics::") and "KAL501  gfp-conflict" in line
