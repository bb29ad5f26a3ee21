"""The names a file can see for sizing: its own facts, then the headers it includes, searched breadth first.

`#include "x.h"` is looked for next to the including file, then in the include directories; `#include <x.h>`
only in the include directories (as cc -I does). A header is extracted once per run, when a name is not
found in what was already searched, with the same front end as the files being checked."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kalloclint.frontend.facts import FileFacts, Include, MacroEffect, StructDef, Typedef


@dataclass(slots=True)
class Headers:
    """Facts of files by real path, shared by every file of a run; `extract` reads one on demand."""

    extract: Callable[[str], FileFacts | None]
    include_dirs: tuple[str, ...] = ()
    known: dict[str, FileFacts | None] = field(default_factory=dict)
    limit: int = 4000  # headers kept at once: the oldest are dropped (and re-read if needed again)

    def facts(self, path: str) -> FileFacts | None:
        real = os.path.realpath(path)
        if real not in self.known:
            if len(self.known) >= self.limit:
                del self.known[next(iter(self.known))]
            self.known[real] = self.extract(real) if os.path.isfile(real) else None
        return self.known[real]

    def resolve(self, include: Include, including: str) -> str | None:
        """The file an #include names, as the compiler would find it, or None."""
        dirs = ([os.path.dirname(including) or "."] if include.quoted else []) + list(self.include_dirs)
        for directory in dirs:
            candidate = os.path.join(directory, include.path)
            if os.path.isfile(candidate):
                return candidate
        return None


@dataclass(slots=True)
class Scope:
    """One file and, lazily, the transitive closure of its includes, in breadth-first order."""

    facts: FileFacts
    headers: Headers | None = None
    _chain: list[FileFacts] = field(default_factory=list)
    _pending: list[FileFacts] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _macro_homes: dict[str, FileFacts] | None = None

    def __post_init__(self) -> None:
        self._chain = [self.facts]
        self._pending = [self.facts]
        self._seen = {os.path.realpath(self.facts.path)}

    def headers_read(self) -> list[str]:
        """Real paths of the headers read so far for this file (what a cached result depends on)."""
        own = os.path.realpath(self.facts.path)
        return sorted(p for p in self._seen if p != own)

    def files(self) -> Iterator[FileFacts]:
        """The file, then its headers; the include graph is walked only as far as a caller reads."""
        i = 0
        while True:
            while i < len(self._chain):
                yield self._chain[i]
                i += 1
            if not self._grow():
                return

    def _grow(self) -> bool:
        """Add the headers included by the next file not yet expanded; False when nothing is left."""
        while self._pending and self.headers is not None:
            parent = self._pending.pop(0)
            added = False
            for include in parent.includes:
                path = self.headers.resolve(include, parent.path)
                if path is None:
                    continue
                real = os.path.realpath(path)
                if real in self._seen:
                    continue
                self._seen.add(real)
                facts = self.headers.facts(path)
                if facts is not None:
                    self._chain.append(facts)
                    self._pending.append(facts)
                    added = True
            if added:
                return True
        return False

    # -- lookups: the first file that defines the name wins --------------------------------------

    def define(self, name: str) -> tuple[str, bool] | None:
        """(body, ambiguous) of an object-like macro; ambiguous when one file gives it two bodies."""
        for facts in self.files():
            if name in facts.defines:
                return facts.defines[name], name in facts.redefined
        return None

    def is_function_macro(self, name: str) -> bool:
        """Is `name` a function-like macro in the file or its headers?"""
        return name in self._function_macros()

    def macro_effect(self, name: str) -> MacroEffect | None:
        """What a function-like macro does to control flow and locks, as the first file defining it says."""
        home = self._function_macros().get(name)
        return home.macro_effects.get(name) if home is not None else None

    def _function_macros(self) -> dict[str, FileFacts]:
        """Each function-like macro of the file and its headers with the first file defining it. Built once:
        asked about every called name, most of which are functions, a walk per name went through every
        header each time."""
        if self._macro_homes is None:
            homes: dict[str, FileFacts] = {}
            for facts in self.files():
                for name in facts.function_macros:
                    homes.setdefault(name, facts)
            self._macro_homes = homes
        return self._macro_homes

    def function_define(self, name: str) -> tuple[tuple[str, ...], str] | None:
        for facts in self.files():
            if name in facts.function_defines:
                return facts.function_defines[name]
        return None

    def enum_value(self, name: str) -> tuple[str, bool] | None:
        for facts in self.files():
            if name in facts.enum_values:
                return facts.enum_values[name], name in facts.redefined
        return None

    def enum(self, tag: str) -> tuple[str, ...] | None:
        for facts in self.files():
            if tag in facts.enums:
                return facts.enums[tag]
        return None

    def structs(self, name: str, kind: str) -> list[StructDef]:
        """The definitions of a struct or union in the first file that has one (several under #if)."""
        for facts in self.files():
            found = [s for s in facts.structs if s.name == name and s.kind == kind]
            if found:
                return found
        return []

    def typedef(self, name: str) -> tuple[Typedef, bool] | None:
        """(typedef, ambiguous): ambiguous when one file defines the name twice, differently."""
        for facts in self.files():
            if name in facts.typedefs:
                return facts.typedefs[name], name in facts.redefined
        return None
