"""What all files of a run share: struct definitions by name, indexed once and independent of file order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kalloclint.frontend.facts import FileFacts, StructDef


@dataclass(slots=True)
class ProjectIndex:
    """Struct definitions of every file, by name; ties broken by path so that order does not matter."""

    structs: dict[str, StructDef] = field(default_factory=dict)

    @classmethod
    def build(cls, files: Iterable[FileFacts]) -> ProjectIndex:
        structs: dict[str, tuple[str, StructDef]] = {}
        for facts in files:
            for s in facts.structs:
                seen = structs.get(s.name)
                if seen is None or facts.path < seen[0]:
                    structs[s.name] = (facts.path, s)
        return cls({name: s for name, (_, s) in structs.items()})
