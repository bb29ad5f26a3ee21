"""`kalloclint --explain-size EXPR [FILE]`: a size folded as the checks fold it, with its class and waste."""

from __future__ import annotations

from kalloclint.analysis.fold import CInt, SIZE_T, wrap
from kalloclint.analysis.layout import Layout, Unknown
from kalloclint.analysis.sizing import Sizing
from kalloclint.frontend.facts import FileFacts
from kalloclint.model.arch import ArchProfile, get_order
from kalloclint.source import LineIndex


def explain_size(text: str, sizing: Sizing, facts: FileFacts | None) -> tuple[str, bool]:
    """The report, and whether the expression could be folded. `facts` gives the file whose macros,
    enums, structs and headers the expression may use."""
    facts = facts or FileFacts("<command line>", LineIndex.build(b""))
    folder = sizing.folder(facts)
    profile = sizing.profile
    expr = sizing.parser.parse(text)
    lines = [f"expression: {text}", f"arch:       {profile.name} ({profile.description})"]
    if expr is None:
        return "\n".join(lines + ["value:      unknown: not a C expression kalloclint can parse"]) + "\n", False
    value = folder.fold(expr)
    if isinstance(value, Unknown):
        return "\n".join(lines + [f"value:      unknown: {value.reason}"]) + "\n", False
    size = wrap(value.value, *SIZE_T).value
    lines.append(f"value:      {size} bytes ({size:#x})" if value.value >= 0 else
                 f"value:      {value.value} (as size_t: {size})")
    lines += _placement(size, profile)
    operand = expr.strip().children[0] if expr.strip().kind == "sizeof" and expr.strip().children else None
    if operand is not None:
        t = folder.type_of(operand)
        layout = folder.layouts.of(t) if not isinstance(t, Unknown) else t
        if isinstance(layout, Layout) and layout.record is not None:
            lines += _members(layout, folder)
    return "\n".join(lines) + "\n", True


def _placement(size: int, profile: ArchProfile) -> list[str]:
    lines = []
    landed = profile.size_class(size)
    if landed is None:
        lines.append("kmalloc:    fails: above KMALLOC_MAX_SIZE" if size else "kmalloc:    ZERO_SIZE_PTR (size 0)")
    else:
        name, bytes_ = landed
        waste = bytes_ - size
        lines.append(f"kmalloc:    {name} ({bytes_} bytes), wasting {waste} bytes ({round(100 * waste / bytes_)}%)")
    if size:
        order = get_order(size, profile.page_shift)
        verdict = "above MAX_PAGE_ORDER: fails" if order > profile.max_page_order else \
            "above PAGE_ALLOC_COSTLY_ORDER: costly" if order > profile.page_alloc_costly_order else "ok"
        lines.append(f"pages:      order {order} ({1 << order} pages, {profile.page_size << order} bytes): {verdict}")
    lines.append(f"limits:     PAGE_SIZE {profile.page_size}, KMALLOC_MAX_CACHE_SIZE {profile.kmalloc_max_cache_size}, "
                 f"KMALLOC_MAX_SIZE {profile.kmalloc_max_size}, MAX_PAGE_ORDER {profile.max_page_order}")
    return lines


def _members(layout: Layout, folder) -> list[str]:
    """The record's members with their offsets and the padding holes between them (like pahole)."""
    record = layout.record
    name = f"{record.kind} {record.name}" if record.name else f"unnamed {record.kind}"
    lines = [f"layout of {name} (size {layout.size}, align {layout.align}{', packed' if record.packed else ''}):",
             "   offset    size  member"]
    end = 0
    for m in layout.members:
        if record.kind == "struct" and m.bits is None and m.offset > end:
            lines.append(f"{end:>9} {m.offset - end:>7}  (hole)")
        label = m.name or f"({m.type.base})"
        if m.bits is not None:
            label += f" : {m.bits} (bit {m.bit_offset % 8 if m.bit_offset is not None else 0})"
        lines.append(f"{m.offset:>9} {m.size:>7}  {label}")
        end = max(end, m.offset + (m.size if m.bits is None else ((m.bit_offset or 0) + m.bits + 7) // 8 - m.offset))
    if record.kind == "struct" and layout.size > end:
        lines.append(f"{end:>9} {layout.size - end:>7}  (padding)")
    return lines


__all__ = ["explain_size", "CInt"]
