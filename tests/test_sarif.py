"""--format sarif: valid SARIF 2.1.0 (the official schema) with what GitHub code scanning reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from kalloclint import __version__
from kalloclint.checks import all_checks
from kalloclint.cli import main
from kalloclint.findings import Finding, Related
from kalloclint.report import sarif as sarif_format
from kalloclint.report.linehash import line_hashes
from kalloclint.report.sources import Sources
from kalloclint.source import Location, Span



def _find_schema() -> Path | None:
    """The official SARIF 2.1.0 schema: named by KALLOCLINT_SARIF_SCHEMA, or shared/schemas/ beside the
    checkout (or beside a folder above it). It is not part of the repository."""
    named = os.environ.get("KALLOCLINT_SARIF_SCHEMA")
    places = [Path(named)] if named else []
    places += [p / "shared" / "schemas" / "sarif-schema-2.1.0.json" for p in Path(__file__).resolve().parents]
    return next((p for p in places if p.is_file()), None)


SCHEMA = _find_schema()


def official_schema() -> dict:
    if SCHEMA is None:
        pytest.skip("the official SARIF 2.1.0 schema was not found: set KALLOCLINT_SARIF_SCHEMA to "
                    "sarif-schema-2.1.0.json, or put it in shared/schemas/ beside the checkout")
    return json.loads(SCHEMA.read_text())

RING = """\
struct ring { int n; };

static int ring_init(struct ring **out, size_t n)
{
	struct ring *r;

	r = kmalloc(n * sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}
"""
HELPER = """\
void helper_wait(void)
{
	msleep(10);
}
"""
USER = """\
static DEFINE_SPINLOCK(lock);

void user(void)
{
	void *p;

	spin_lock(&lock);
	helper_wait();
	p = kzalloc(16, GFP_KERNEL);
	spin_unlock(&lock);
	kfree(p);
}
"""


@pytest.fixture
def sarif(tmp_path, monkeypatch, capsys) -> dict:
    (tmp_path / "drivers" / "my dev").mkdir(parents=True)
    (tmp_path / "drivers" / "my dev" / "ring.c").write_text(RING)
    (tmp_path / "drivers" / "helper.c").write_text(HELPER)
    (tmp_path / "drivers" / "user.c").write_text(USER)
    monkeypatch.chdir(tmp_path)
    assert main(["--format", "sarif", "drivers"]) == 1
    return json.loads(capsys.readouterr().out)


def results_by_rule(log: dict) -> dict[str, dict]:
    return {r["ruleId"]: r for r in log["runs"][0]["results"]}


def test_validates_against_the_official_schema(sarif):
    schema = official_schema()
    jsonschema.Draft4Validator.check_schema(schema)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(sarif), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_empty_run_validates_too(tmp_path, monkeypatch, capsys):
    (tmp_path / "clean.c").write_text("int f(void) { return 0; }\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--format", "sarif", "clean.c"]) == 0
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(official_schema()).validate(log)
    assert log["runs"][0]["results"] == []


def test_driver_describes_every_rule(sarif):
    driver = sarif["runs"][0]["tool"]["driver"]
    assert sarif["version"] == "2.1.0" and "sarif-schema-2.1.0.json" in sarif["$schema"]
    assert (driver["name"], driver["version"]) == ("kalloclint", __version__)
    assert driver["informationUri"].startswith("https://")
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == ["KAL000"] + [c.code for c in all_checks()]
    levels = {"error": "error", "warning": "warning", "info": "note"}
    for check, rule in zip(all_checks(), driver["rules"][1:]):
        assert rule["name"] == check.name
        assert rule["shortDescription"]["text"] == check.summary()
        assert rule["fullDescription"]["text"].startswith(check.summary().rstrip("."))
        assert rule["help"]["markdown"] == check.doc() and "## Why is this bad?" in rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] == levels[check.severity]
        assert rule["properties"]["precision"] in ("very-high", "high", "medium", "low")
        assert "correctness" in rule["properties"]["tags"]


def test_results_point_at_rules_and_relative_paths(sarif):
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert root.startswith("file:///") and root.endswith("/")
    assert run["columnKind"] == "unicodeCodePoints"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%" and not artifact["uri"].startswith(("/", "file:"))
    ring = results_by_rule(sarif)["KAL201"]
    location = ring["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "drivers/my%20dev/ring.c"
    assert location["region"] == {"startLine": 7, "startColumn": 14, "endLine": 7, "endColumn": 28}


def test_fingerprints_are_the_uploads_line_hashes(sarif, tmp_path):
    for result in sarif["runs"][0]["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].replace("%20", " ")
        line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
        expected = line_hashes((tmp_path / uri).read_text())[line - 1]
        assert result["partialFingerprints"] == {"primaryLocationLineHash": expected}


def test_fixes(sarif):
    (fix,) = results_by_rule(sarif)["KAL201"]["fixes"]
    assert fix["description"]["text"] == "Use kmalloc_array()"
    assert fix["properties"]["applicability"] == "safe"
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "drivers/my%20dev/ring.c"
    assert change["replacements"] == [
        {"deletedRegion": {"startLine": 7, "startColumn": 6, "endLine": 7, "endColumn": 13},
         "insertedContent": {"text": "kmalloc_array"}},
        {"deletedRegion": {"startLine": 7, "startColumn": 14, "endLine": 7, "endColumn": 28},
         "insertedContent": {"text": "n, sizeof(*r)"}},
    ]


def test_call_chains_become_related_locations_and_a_code_flow(tmp_path, monkeypatch):
    (tmp_path / "user.c").write_text(USER)
    (tmp_path / "helper.c").write_text(HELPER)
    monkeypatch.chdir(tmp_path)
    hops = (Related("user.c", Location(8, 2, 8, 2), "calls helper_wait()"),
            Related("helper.c", Location(3, 2, 3, 2), "msleep() may sleep here"),
            Related("user.c", Location(7, 2, 7, 2), "lock taken here"))
    chain = Finding("KAL103", "sleep-in-atomic", "error", "helper_wait() may sleep (user() -> helper_wait() -> "
                    "msleep() at helper.c:3), but spinlock 'lock' is held (taken at line 7)", "user.c",
                    Span(0, 1), Location(8, 2, 8, 15), related=hops)
    log = json.loads(sarif_format.render([chain], Sources()))
    if SCHEMA is not None:  # the code flow's shape is checked below either way
        jsonschema.Draft4Validator(official_schema()).validate(log)
    (result,) = log["runs"][0]["results"]
    related = [(r["id"], r["physicalLocation"]["artifactLocation"]["uri"], r["physicalLocation"]["region"],
                r["message"]["text"]) for r in result["relatedLocations"]]
    assert related == [(1, "user.c", {"startLine": 8, "startColumn": 2}, "calls helper_wait()"),
                       (2, "helper.c", {"startLine": 3, "startColumn": 2}, "msleep() may sleep here"),
                       (3, "user.c", {"startLine": 7, "startColumn": 2}, "lock taken here")]
    (flow,) = result["codeFlows"]
    (thread,) = flow["threadFlows"]
    steps = [(s["location"]["physicalLocation"]["artifactLocation"]["uri"],
              s["location"]["physicalLocation"]["region"], s["location"]["message"]["text"])
             for s in thread["locations"]]
    assert steps == [r[1:] for r in related]


def test_a_single_related_location_is_no_code_flow(sarif):
    (single,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "KAL101"]
    (related,) = single["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "drivers/user.c"
    assert related["physicalLocation"]["region"]["startLine"] == 7
    assert "codeFlows" not in single


def test_unreadable_files_are_tool_notifications(tmp_path, monkeypatch, capsys):
    (tmp_path / "bin.c").write_bytes(b"\0\1\2")
    monkeypatch.chdir(tmp_path)
    main(["--format", "sarif", "bin.c"])
    (invocation,) = json.loads(capsys.readouterr().out)["runs"][0]["invocations"]
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "warning" and "binary" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bin.c"


def test_paths_outside_the_working_directory_are_absolute_uris(tmp_path, monkeypatch, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ring.c").write_text(RING)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    main(["--format", "sarif", str(tmp_path / "src")])
    (result,) = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": (tmp_path / "src" / "ring.c").as_uri()}
