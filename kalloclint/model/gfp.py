"""GFP flag algebra: GFP expressions evaluated to bit masks, so flags are judged by meaning, not spelling."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.frontend.facts import Expr


@dataclass(frozen=True, slots=True)
class GfpValue:
    """An evaluated GFP expression: its bits, and the base GFP_* sets OR-ed together in it."""

    mask: int
    bases: tuple[str, ...]


@dataclass(slots=True)
class GfpAlgebra:
    """Names to masks, built from the [gfp] table of the model."""

    names: dict[str, int]
    all_bits: int
    base: frozenset[str]
    sleeping: int
    nonblocking: int
    dma: int
    conflicts: tuple[tuple[str, str], ...]
    requires: tuple[tuple[str, str], ...]
    dma_zone_arch_paths: tuple[str, ...] = ()  # arch-only code where ZONE_DMA is not about devices

    @classmethod
    def from_table(cls, table: dict) -> GfpAlgebra:
        bits = table.get("bits", [])
        names = {name: 1 << i for i, name in enumerate(bits)}
        sets = dict(table.get("sets", {}))
        pending = dict(sets)
        while pending:
            progressed = False
            for name, members in list(pending.items()):
                if all(m in names for m in members):
                    mask = 0
                    for m in members:
                        mask |= names[m]
                    names[name] = mask
                    del pending[name]
                    progressed = True
            if not progressed:
                unknown = sorted({m for ms in pending.values() for m in ms if m not in names and m not in pending})
                raise ValueError(f"[gfp.sets] {', '.join(sorted(pending))}: unknown or circular names "
                                 f"{', '.join(unknown) or '(circular)'}")
        sleeping = names.get(table.get("sleeping_bit", ""), 0)
        nonblocking = names.get(table.get("nonblocking_bit", ""), 0)
        dma = 0
        for name in table.get("dma_bits", []):
            dma |= names.get(name, 0)
        pairs = tuple(tuple(p) for p in table.get("conflicts", []))
        requires = tuple(tuple(p) for p in table.get("requires", []))
        for a, b in pairs + requires:
            if a not in names or b not in names:
                raise ValueError(f"[gfp] conflicts/requires name unknown flags: {a}, {b}")
        return cls(names, (1 << len(bits)) - 1, frozenset(table.get("base", [])), sleeping, nonblocking, dma, pairs,
                   requires, tuple(table.get("dma_zone_arch_paths", [])))

    def dma_zone_is_arch_limit(self, path: str) -> bool:
        """Whether `path` is code of an architecture whose DMA zone is its own addressing limit (s390)."""
        slashed = "/" + path.replace("\\", "/")
        return any("/" + prefix in slashed for prefix in self.dma_zone_arch_paths)

    def bit(self, name: str) -> int:
        return self.names.get(name, 0)

    def mentions_gfp(self, expr: Expr) -> bool:
        """True when the expression names at least one GFP flag."""
        return any(n.kind == "ident" and n.text in self.names for n in expr.walk())

    def evaluate(self, expr: Expr, locals_: dict[str, GfpValue] | None = None) -> GfpValue | None:
        """The flags an expression stands for, or None when any part of it is unknown.
        `locals_` gives values of gfp_t variables assigned from constants."""
        e = expr.strip()
        if e.kind == "ident":
            if e.text in self.names:
                return GfpValue(self.names[e.text], (e.text,) if e.text in self.base else ())
            if locals_ and e.text in locals_:
                return locals_[e.text]
            return None
        if e.kind == "number" and e.text.strip() == "0":
            return GfpValue(0, ())
        if e.kind == "cast" and len(e.children) == 2:
            return self.evaluate(e.children[1], locals_)
        if e.kind == "unary" and e.op == "~" and e.children:
            inner = self.evaluate(e.children[0], locals_)
            return None if inner is None else GfpValue(self.all_bits & ~inner.mask, ())
        if e.kind == "binary" and len(e.children) == 2 and e.op in ("|", "&", "^"):
            left = self.evaluate(e.children[0], locals_)
            right = self.evaluate(e.children[1], locals_)
            if left is None or right is None:
                return None
            if e.op == "|":
                return GfpValue(left.mask | right.mask, left.bases + right.bases)
            if e.op == "&":
                return GfpValue(left.mask & right.mask, left.bases + right.bases)
            return GfpValue(left.mask ^ right.mask, ())
        return None

    def or_terms(self, expr: Expr) -> list[Expr]:
        """The operands of a chain of `|` (parentheses looked through)."""
        e = expr.strip()
        if e.kind == "binary" and e.op == "|" and len(e.children) == 2:
            return self.or_terms(e.children[0]) + self.or_terms(e.children[1])
        return [e]

    def named_bits(self, expr: Expr) -> int:
        """Bits that the `|` operands of an expression set by name, even when other operands are unknown."""
        mask = 0
        for term in self.or_terms(expr):
            value = self.evaluate(term)
            if value is not None:
                mask |= value.mask
        return mask

    def describe_base(self, value: GfpValue) -> str:
        """A base set name equal to the value (GFP_KERNEL), else the bits it holds."""
        for name in self.base:
            if self.names[name] == value.mask:
                return name
        return self.describe(value)

    def nonblocking_only(self, value: GfpValue) -> bool:
        """GFP_ATOMIC / GFP_NOWAIT-like: wakes kswapd, never reclaims directly."""
        return bool(value.mask & self.nonblocking) and not value.mask & self.sleeping

    def may_sleep(self, value: GfpValue) -> bool:
        return bool(value.mask & self.sleeping)

    def describe(self, value: GfpValue) -> str:
        """The smallest list of known names whose union is the mask, for messages."""
        return " | ".join(n for n, m in self.names.items() if m and value.mask & m == m and m & (m - 1) == 0) or "0"
