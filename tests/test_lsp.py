"""The language server end to end with pytest-lsp: open, diagnostics, quick fix, fix all, change, save,
UTF-16 positions, the workspace index with progress, shutdown."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

from kalloclint.lsp import Positions  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
WORKSPACE_FILES = ["kal401_prefer_zeroing_alloc.c", "kal101_sleeping_gfp_in_atomic.c"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    for name in WORKSPACE_FILES:
        shutil.copy(FIXTURES / name, root / name)
    shutil.copytree(FIXTURES / "tree_chain", root / "tree_chain")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "kalloclint.lsp"]))
async def client(lsp_client: LanguageClient, workspace: Path, tmp_path_factory):
    lsp_client.set_configuration({"ignore": ["KAL306"]}, section="kalloclint")
    capabilities = client_capabilities("neovim")
    capabilities.general.position_encodings = [types.PositionEncodingKind.Utf16]  # the LSP default
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities, root_uri=workspace.as_uri(),
        workspace_folders=[types.WorkspaceFolder(workspace.as_uri(), "workspace")]))
    yield
    await lsp_client.shutdown_session()


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    data = text.encode("utf-8")
    positions = Positions(data)
    spans = sorted(((positions.offset(e.range.start), positions.offset(e.range.end), e.new_text) for e in edits),
                   reverse=True)
    for start, end, new in spans:
        data = data[:start] + new.encode("utf-8") + data[end:]
    return data.decode("utf-8")


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=uri, language_id="c", version=1, text=path.read_text(encoding="utf-8") if text is None else text)))
    await _diagnostics(client, uri)
    return uri


async def _diagnostics(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    client.diagnostics.pop(uri, None)
    while uri not in client.diagnostics:
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 60)
    return list(client.diagnostics[uri])


@pytest.mark.asyncio
async def test_open_fix_change_save(client: LanguageClient, workspace: Path):
    path = workspace / "kal401_prefer_zeroing_alloc.c"
    text = path.read_text(encoding="utf-8")
    uri = await _open(client, path)
    diagnostics = list(client.diagnostics[uri])
    zeroing = [d for d in diagnostics if d.code == "KAL401"]
    assert len(zeroing) == 9
    first = zeroing[0]
    assert first.source == "kalloclint" and first.severity == types.DiagnosticSeverity.Warning
    assert first.code_description.href.endswith("/kal401_prefer_zeroing_alloc.py")
    assert first.related_information and first.related_information[0].location.uri == uri

    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), first.range, types.CodeActionContext([first])))
    quick = [a for a in actions if a.kind == types.CodeActionKind.QuickFix]
    assert quick and quick[0].title.startswith("Use kzalloc()")
    fixed = _apply(text, quick[0].edit.changes[uri])
    memset = "\tmemset(ctx, 0, sizeof(*ctx));\n"
    assert "kzalloc(sizeof(*ctx)" in fixed and fixed.count(memset) == text.count(memset) - 1

    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2), [types.TextDocumentContentChangeWholeDocument(fixed)]))
    assert len([d for d in await _diagnostics(client, uri) if d.code == "KAL401"]) == 8

    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0), types.Position(0, 0)),
        types.CodeActionContext([], only=[types.CodeActionKind.SourceFixAll])))
    assert [a.title for a in actions] == ["Fix all kalloclint issues in file"]
    everything = _apply(fixed, actions[0].edit.changes[uri])
    assert everything == (FIXTURES / "kal401_prefer_zeroing_alloc.fixed.c").read_text(encoding="utf-8")

    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=3), [types.TextDocumentContentChangeWholeDocument(everything)]))
    assert not [d for d in await _diagnostics(client, uri) if d.code == "KAL401"]
    path.write_text(everything, encoding="utf-8")
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
    assert not [d for d in await _diagnostics(client, uri) if d.code == "KAL401"]
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    assert await _diagnostics(client, uri) == []


@pytest.mark.asyncio
async def test_columns_are_utf16_code_units_after_tabs_and_non_ascii(client: LanguageClient, workspace: Path):
    path = workspace / "wide.c"
    text = ("void *f(int n)\n{\n"
            "\t/* \u00e9\u00e8 \U0001F600 */ return kmalloc(n * sizeof(long), GFP_KERNEL);\n}\n")
    path.write_text(text, encoding="utf-8")
    uri = await _open(client, path, text)
    found = [d for d in client.diagnostics[uri] if d.code == "KAL201"]
    assert found, client.diagnostics[uri]
    line = text.splitlines()[2]
    before = line[:line.index("n * sizeof")]
    assert found[0].range.start.line == 2
    assert found[0].range.start.character == len(before.encode("utf-16-le")) // 2 == len(before) + 1


@pytest.mark.asyncio
async def test_whole_tree_findings_come_from_the_indexed_workspace(client: LanguageClient, workspace: Path):
    path = workspace / "tree_chain" / "irq.c"
    uri = path.as_uri()
    await _open(client, path)
    found: list[tuple[int, str]] = []
    for _ in range(20):  # the index runs in the background; open documents are checked again after it
        found = sorted((d.range.start.line + 1, d.code) for d in client.diagnostics.get(uri, []))
        if (13, "KAL103") in found:
            break
        await _diagnostics(client, uri)
    assert (13, "KAL103") in found and (14, "KAL103") in found  # the sleeping callee is in another file
    reports = [r for values in client.progress_reports.values() for r in values]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert any(isinstance(r, types.WorkDoneProgressEnd) for r in reports)
    chained = next(d for d in client.diagnostics[uri] if d.code == "KAL103")
    assert chained.related_information


@pytest.mark.asyncio
async def test_unsafe_gfp_atomic_fix_says_so(client: LanguageClient, workspace: Path):
    path = workspace / "kal101_sleeping_gfp_in_atomic.c"
    uri = await _open(client, path)
    assert not [d for d in client.diagnostics[uri] if d.code == "KAL306"]  # ignored in the editor's settings
    found = next(d for d in client.diagnostics[uri] if d.code == "KAL101")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), found.range, types.CodeActionContext([found])))
    titles = [a.title for a in actions if a.kind == types.CodeActionKind.QuickFix]
    assert any("GFP_ATOMIC" in t and "(unsafe)" in t and "allocate before" in t for t in titles), titles


@pytest.mark.parametrize("encoding,units", [("utf-16", 6), ("utf-8", 9), ("utf-32", 5)])
def test_positions_round_trip_in_each_encoding(encoding: str, units: int):
    data = "int a;\n\t\u00e9 \U0001F600 x = 1;\n".encode("utf-8")
    positions = Positions(data, encoding)
    offset = data.index(b"x = 1")
    assert positions.position(offset) == types.Position(line=1, character=units)
    assert positions.offset(positions.position(offset)) == offset


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "kalloclint.lsp"]))
async def plain_client(lsp_client: LanguageClient):
    """A client without workspace/configuration or a workspace folder (as the generic VS Code client can
    be): settings come as initialization options."""
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={"select": ["KAL403"]}))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_settings_from_initialization_options(plain_client: LanguageClient, workspace: Path):
    uri = await _open(plain_client, workspace / "kal101_sleeping_gfp_in_atomic.c")
    assert not plain_client.diagnostics[uri]
    path = FIXTURES / "kal403_alloc_cast.c"
    uri = await _open(plain_client, path)
    assert {d.code for d in plain_client.diagnostics[uri]} == {"KAL403"}
