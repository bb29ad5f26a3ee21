"""The check registry: one module per rule in this package, each defining one Check subclass."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from functools import lru_cache

from kalloclint.analysis.context import FileContext
from kalloclint.findings import Finding

HEADINGS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety", "References")


class Check:
    """A rule. Subclasses set code, name and severity, document themselves in the headings of
    HEADINGS, and yield findings from `run`, asking the context rather than walking trees."""

    code: str = ""
    name: str = ""
    severity: str = "warning"

    def run(self, ctx: FileContext) -> Iterator[Finding]:
        raise NotImplementedError

    def run_tree(self, tree) -> Iterator[Finding]:
        """Findings that need every file's summary (the whole-tree phase); most rules have none."""
        return iter(())

    @classmethod
    def uses_tree(cls) -> bool:
        return cls.run_tree is not Check.run_tree

    @classmethod
    def doc(cls) -> str:
        return _dedent(cls.__doc__ or "")

    @classmethod
    def section(cls, heading: str) -> str:
        """The text under one `## heading` of the docstring."""
        m = re.search(r"^## " + re.escape(heading) + r"\s*\n(.*?)(?=^## |\Z)", cls.doc(), re.M | re.S)
        return m.group(1).strip() if m else ""

    @classmethod
    def summary(cls) -> str:
        """The first sentence of "What it does", for rule lists."""
        text = " ".join(cls.section("What it does").split())
        m = re.match(r"(.+?\.)(\s|$)", text)
        return m.group(1) if m else text


def _dedent(doc: str) -> str:
    lines = doc.expandtabs().splitlines()
    if not lines:
        return ""
    rest = [ln for ln in lines[1:] if ln.strip()]
    indent = min((len(ln) - len(ln.lstrip()) for ln in rest), default=0)
    return "\n".join([lines[0].strip()] + [ln[indent:] for ln in lines[1:]]).strip() + "\n"


@lru_cache(maxsize=1)
def all_checks() -> tuple[Check, ...]:
    """Every rule, ordered by code."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("kal"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Check) and value is not Check and value.code:
                found.append(value())
    return tuple(sorted(found, key=lambda c: c.code))


def check_by_key(key: str) -> Check | None:
    """A rule by code (KAL201, case-insensitive) or name (alloc-size-multiply)."""
    k = key.strip()
    for check in all_checks():
        if check.code.lower() == k.lower() or check.name == k.lower():
            return check
    return None
