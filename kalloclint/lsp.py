"""The language server (`kalloclint-lsp`, pygls over stdio): diagnostics on open, change and save, each
finding's fix as a quick fix, "fix all" as a source action, and the workspace indexed in the background for
the rules that need the whole tree."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import threading
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from kalloclint import __version__, fix
from kalloclint.checks import all_checks
from kalloclint.config import ConfigError, Settings, find_config, load_settings
from kalloclint.engine import run, selected_codes
from kalloclint.findings import Edit, Finding, Fix, Related
from kalloclint.model import Model, ModelError, load_model
from kalloclint.source import LineIndex, Location, Span

SOURCE = "kalloclint"
DEBOUNCE_SECONDS = 0.3
FIX_ALL = "source.fixAll.kalloclint"
DOCS = "https://github.com/kalloclint/kalloclint/blob/main/kalloclint/checks/{module}.py"
_SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning,
             "info": types.DiagnosticSeverity.Information}


class Positions:
    """One text's byte offsets and 1-based character locations as LSP positions in the negotiated encoding
    (UTF-16 code units unless the client chose UTF-8 or UTF-32)."""

    def __init__(self, data: bytes, encoding: str = "utf-16"):
        self.data = data
        self.index = LineIndex.build(data)
        self.encoding = str(getattr(encoding, "value", encoding) or "utf-16")

    def _line(self, row: int) -> tuple[int, bytes]:
        starts = self.index.line_starts
        start = starts[row]
        end = starts[row + 1] - 1 if row + 1 < len(starts) else len(self.data)
        return start, self.data[start:end]

    def _units(self, text: bytes) -> int:
        if self.encoding == "utf-8":
            return len(text)
        decoded = text.decode("utf-8", "replace")
        return len(decoded) if self.encoding == "utf-32" else len(decoded.encode("utf-16-le")) // 2

    def position(self, offset: int) -> types.Position:
        offset = min(max(offset, 0), len(self.data))
        row = bisect_right(self.index.line_starts, offset) - 1
        return types.Position(row, self._units(self.data[self.index.line_starts[row]:offset]))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(self.position(start), self.position(end))

    def location_range(self, location: Location) -> types.Range:
        return self.range(self.index.offset(location.line, location.col),
                          self.index.offset(location.end_line, location.end_col))

    def offset(self, position: types.Position) -> int:
        row = min(max(position.line, 0), len(self.index.line_starts) - 1)
        start, line = self._line(row)
        if self.encoding == "utf-8":
            return start + min(position.character, len(line))
        text = line.decode("utf-8", "replace")
        units = 0
        for i, char in enumerate(text):
            if units >= position.character:
                return start + len(text[:i].encode("utf-8"))
            units += 2 if self.encoding == "utf-16" and ord(char) > 0xFFFF else 1
        return start + len(line)


@dataclass(slots=True)
class Analysed:
    """What was checked for one open document: its version and bytes, and what was found in them."""

    version: int | None
    data: bytes
    findings: list[Finding]


class KalloclintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("kalloclint-lsp", __version__)
        self.options: dict = {}
        self.analysed: dict[str, Analysed] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.tree_findings: dict[str, list[dict]] = {}  # path -> whole-tree findings of the last index
        self.index_task: asyncio.Task | None = None
        self.index_again = False
        self.index_runs = 0
        self.configured: asyncio.Event | None = None  # set once the editor's settings are in
        self.engine = threading.Lock()  # the engine's run is not re-entrant
        self._models: dict[tuple[str, ...], Model] = {}

    # -- settings ----------------------------------------------------------------------------------

    def settings_for(self, path: str) -> Settings:
        """The project's config file for `path`, overridden by the editor's settings."""
        config = find_config(Path(path).resolve())
        settings = load_settings(config) if config is not None else Settings()
        opts = self.options
        if opts.get("select"):
            settings.select = list(opts["select"])
        settings.ignore += list(opts.get("ignore") or [])
        if opts.get("arch"):
            settings.arch = opts["arch"]
        settings.model_files += list(opts.get("modelFiles") or opts.get("model_files") or [])
        return settings

    def model_for(self, settings: Settings) -> Model:
        key = tuple(settings.model_files)
        if key not in self._models:
            self._models[key] = load_model(key)
        return self._models[key]

    def encoding(self) -> str:
        return self.workspace.position_encoding or "utf-16"

    # -- diagnostics -------------------------------------------------------------------------------

    def check(self, path: str, data: bytes) -> list[Finding]:
        settings = self.settings_for(path)
        model = self.model_for(settings)
        with self.engine:
            return run([], settings, model, stdin=(path, data)).findings

    async def publish(self, uri: str) -> None:
        try:
            await asyncio.wait_for(self.settled().wait(), 5)
        except asyncio.TimeoutError:
            pass
        doc = self.workspace.get_text_document(uri)
        data = doc.source.encode("utf-8")
        path = to_fs_path(uri) or uri
        try:
            findings = await asyncio.to_thread(self.check, path, data)
        except (ConfigError, ModelError) as exc:
            self.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"kalloclint: {exc}"))
            findings = []
        if uri not in self.workspace.text_documents or self.workspace.get_text_document(uri).version != doc.version:
            return  # closed, or changed meanwhile: a newer check is on its way
        positions = Positions(data, self.encoding())
        if self.indexed(path, data):
            selected = self.selected(path)
            findings = [f for f in findings if f.code not in _tree_codes()] + \
                [_finding(obj, positions.index) for obj in self.tree_findings.get(path, []) if obj["code"] in selected]
            findings.sort(key=Finding.sort_key)
        self.analysed[uri] = Analysed(doc.version, data, findings)
        diagnostics = [self.diagnostic(f, positions, i) for i, f in enumerate(findings)]
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, doc.version))

    def settled(self) -> asyncio.Event:
        if self.configured is None:
            self.configured = asyncio.Event()
        return self.configured

    def indexed(self, path: str, data: bytes) -> bool:
        """Are the index's whole-tree findings about this text (the document as saved, in an indexed tree)?"""
        if path not in self.tree_findings:
            return False
        try:
            return Path(path).read_bytes() == data
        except OSError:
            return False

    def selected(self, path: str) -> set[str]:
        try:
            return selected_codes(self.settings_for(path))
        except ConfigError:
            return set()

    def diagnostic(self, f: Finding, positions: Positions, number: int) -> types.Diagnostic:
        related = []
        for r in f.related:
            other = positions if os.path.abspath(r.path) == os.path.abspath(f.path) else _positions_of(
                r.path, positions.encoding)
            if other is not None:
                related.append(types.DiagnosticRelatedInformation(
                    types.Location(Path(os.path.abspath(r.path)).as_uri(), other.location_range(r.location)),
                    r.message))
        return types.Diagnostic(
            range=positions.range(f.span.start, f.span.end), message=f.message,
            severity=_SEVERITY.get(f.severity), code=f.code, source=SOURCE,
            code_description=types.CodeDescription(href=docs_url(f.code)),
            related_information=related or None, data={"finding": number})

    def schedule(self, uri: str, delay: float) -> None:
        """Check `uri` after `delay` seconds, replacing a check not yet started."""
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()

        async def later() -> None:
            await asyncio.sleep(delay)
            self.pending.pop(uri, None)
            await self.publish(uri)

        self.pending[uri] = asyncio.get_running_loop().create_task(later())

    # -- code actions ------------------------------------------------------------------------------

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        doc = self.workspace.get_text_document(uri)
        done = self.analysed.get(uri)
        if done is None or done.version != doc.version:
            return []
        positions = Positions(done.data, self.encoding())
        only = params.context.only
        actions = []
        if only is None or any(k == types.CodeActionKind.QuickFix or k.startswith("quickfix") for k in only):
            lo, hi = positions.offset(params.range.start), positions.offset(params.range.end)
            for number, f in enumerate(done.findings):
                if f.fix is None or f.span.end < lo or f.span.start > hi:
                    continue
                edits = [types.TextEdit(positions.range(e.start, e.end), e.text)
                         for e in fix.all_edits(done.data, [f.fix])]
                unsafe = " (unsafe)" if f.fix.applicability != "safe" else ""
                actions.append(types.CodeAction(
                    title=f"{f.fix.description}{unsafe} [{f.code}]", kind=types.CodeActionKind.QuickFix,
                    diagnostics=[d for d in params.context.diagnostics if d.source == SOURCE and d.code == f.code
                                 and _same_finding(d, number)] or None,
                    edit=types.WorkspaceEdit(changes={uri: edits}), is_preferred=not unsafe))
        if only is None or any(FIX_ALL.startswith(str(k)) for k in only):
            after = await asyncio.to_thread(self.fix_all, to_fs_path(uri) or uri, done)
            if after is not None:
                actions.append(types.CodeAction(
                    title="Fix all kalloclint issues in file", kind=FIX_ALL,
                    edit=types.WorkspaceEdit(changes={uri: [types.TextEdit(
                        positions.range(0, len(done.data)), after.decode("utf-8", "replace"))]})))
        return actions

    def fix_all(self, path: str, done: Analysed) -> bytes | None:
        if not any(fix.wanted(f.fix, unsafe=False) for f in done.findings):
            return None
        settings = self.settings_for(path)
        with self.engine:
            fixed = fix.fix_findings(done.findings, settings, self.model_for(settings), texts={path: done.data})
        return fixed[0].after if fixed else None

    # -- the workspace index -----------------------------------------------------------------------

    def start_index(self) -> None:
        """(Re)index the workspace folders in the background; a request while indexing runs it again after."""
        if not self.workspace.folders and not self.workspace.root_path:
            return
        if self.index_task is not None and not self.index_task.done():
            self.index_again = True
            return
        self.index_task = asyncio.get_running_loop().create_task(self.index())

    async def index(self) -> None:
        folders = [to_fs_path(f.uri) for f in self.workspace.folders.values()] or [self.workspace.root_path]
        progress = bool(getattr(getattr(self.client_capabilities, "window", None), "work_done_progress", False))
        while True:
            self.index_again = False
            self.index_runs += 1
            token = f"kalloclint-index-{self.index_runs}"
            if progress:
                try:
                    await self.work_done_progress.create_async(token)
                    self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                        title="kalloclint", message="indexing the workspace", percentage=0))
                except Exception:
                    progress = False
            found: dict[str, list[dict]] = {}
            for n, folder in enumerate(f for f in folders if f):
                for obj in await _index_folder(folder, self.options):
                    found.setdefault(obj["path"], []).append(obj)
                if progress:
                    self.work_done_progress.report(token, types.WorkDoneProgressReport(
                        message=f"{folder}", percentage=int(100 * (n + 1) / len(folders))))
            self.tree_findings = {p: found.get(p, []) for p in _source_files(folders)} | found
            if progress:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message="workspace indexed"))
            for uri in list(self.workspace.text_documents):
                self.schedule(uri, 0)
            if not self.index_again:
                return


def _finding(obj: dict, index: LineIndex) -> Finding:
    """A finding of the index's JSON report, with byte offsets again (the text is the one indexed)."""
    location = Location(obj["line"], obj["column"], obj["end_line"], obj["end_column"])
    span = Span(index.offset(location.line, location.col), index.offset(location.end_line, location.end_col))
    fixed = obj.get("fix")
    fix_ = None
    if fixed:
        fix_ = Fix(fixed["description"], fixed["applicability"], tuple(
            Edit(index.offset(e["line"], e["column"]), index.offset(e["end_line"], e["end_column"]), e["text"])
            for e in fixed["edits"]))
    related = tuple(Related(r["path"], Location(r["line"], r["column"], r["line"], r["column"]), r["message"])
                    for r in obj.get("related", []))
    return Finding(obj["code"], obj["name"], obj["severity"], obj["message"], obj["path"], span, location,
                   fix_, related)


def _same_finding(diagnostic: types.Diagnostic, number: int) -> bool:
    data = diagnostic.data
    return not isinstance(data, dict) or data.get("finding") == number


def _positions_of(path: str, encoding: str) -> Positions | None:
    try:
        return Positions(Path(path).read_bytes(), encoding)
    except OSError:
        return None


def _tree_codes() -> set[str]:
    return {c.code for c in all_checks() if c.uses_tree()}


def docs_url(code: str) -> str:
    check = next((c for c in all_checks() if c.code == code), None)
    module = check.__module__.rsplit(".", 1)[-1] if check is not None else "__init__"
    return DOCS.format(module=module)


def _source_files(folders: list[str]) -> list[str]:
    out = []
    for folder in folders:
        for directory, _, names in os.walk(folder):
            out.extend(os.path.join(directory, n) for n in names if n.endswith((".c", ".h")))
    return out


async def _index_folder(folder: str, options: dict) -> list[dict]:
    """The whole-tree findings of one folder, from a kalloclint run in a child process (all cores, its own
    result cache, so that re-indexing after a save re-extracts only the saved file)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kalloclint-lsp" / \
        hashlib.sha256(folder.encode()).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "kalloclint", "--format", "json", "--exit-zero",
            "--select", ",".join(sorted(_tree_codes())), os.path.abspath(folder)]
    if options.get("arch"):
        argv[3:3] = ["--arch", options["arch"]]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=str(cache), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    try:
        return json.loads(out or b"[]")
    except ValueError:
        return []


server = KalloclintServer()


@server.feature(types.INITIALIZE)
def _initialize(ls: KalloclintServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    if isinstance(options, dict):
        ls.options = dict(options.get("kalloclint", options))


@server.feature(types.INITIALIZED)
async def _initialized(ls: KalloclintServer, params: types.InitializedParams) -> None:
    try:
        await _pull_configuration(ls)
    finally:
        ls.settled().set()
    ls.start_index()


async def _pull_configuration(ls: KalloclintServer) -> None:
    workspace = getattr(ls.client_capabilities, "workspace", None)
    if not getattr(workspace, "configuration", False):
        return
    try:
        config = await ls.workspace_configuration_async(types.ConfigurationParams(
            items=[types.ConfigurationItem(section="kalloclint")]))
    except Exception:
        return
    if config and isinstance(config[0], dict):
        ls.options = {**ls.options, **config[0]}


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def _configuration_changed(ls: KalloclintServer, params: types.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict) and isinstance(settings.get("kalloclint"), dict):
        ls.options = dict(settings["kalloclint"])
    else:
        await _pull_configuration(ls)
    for uri in list(ls.workspace.text_documents):
        ls.schedule(uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def _did_open(ls: KalloclintServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def _did_change(ls: KalloclintServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_SECONDS)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
async def _did_save(ls: KalloclintServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)
    if ls.tree_findings:
        ls.start_index()


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
async def _did_close(ls: KalloclintServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.analysed.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
    code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL]))
async def _code_action(ls: KalloclintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    return await ls.code_actions(params)


def main() -> int:
    server.start_io()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
