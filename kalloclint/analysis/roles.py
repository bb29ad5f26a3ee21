"""The contexts a function runs in by its own role: handler registrations, ops-struct callbacks, annotations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kalloclint.frontend.facts import Call, FileFacts
from kalloclint.model import ATOMIC_CONTEXTS, Contexts
from kalloclint.source import Span

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAST = re.compile(r"^\(\s*[A-Za-z_][\w\s]*\**\s*\)\s*")


@dataclass(frozen=True, slots=True)
class Role:
    """A function's reason to run in `context`: `how` it got there (`request_irq()`,
    `.ndo_start_xmit`, `__init`), where (a span in `path`, None for annotations), and for hardirq
    handlers whether they stay in hard interrupt context on PREEMPT_RT (IRQF_NO_THREAD)."""

    context: str
    how: str
    path: str
    site: Span | None
    no_thread: bool = False

    @property
    def atomic(self) -> bool:
        return self.context in ATOMIC_CONTEXTS


def handler_name(text: str) -> str | None:
    """The function named by a handler argument: `foo_isr`, `&foo_isr`, `(irq_handler_t)foo_isr`."""
    t = _CAST.sub("", text.strip()).lstrip("&").strip()
    return t if _WORD.fullmatch(t) else None


def file_roles(facts: FileFacts, contexts: Contexts, owner_type=None) -> dict[str, list[Role]]:
    """Roles of the functions a file registers, by function name (the function may live elsewhere).
    `owner_type(binding)` names the struct type of `x.field = fn` assignments when it can be known."""
    roles: dict[str, list[Role]] = {}
    calls: list[Call] = [c for fn in facts.functions for c in fn.calls if not c.in_error]
    calls.extend(facts.file_calls)
    for call in calls:
        registration = contexts.registrations.get(call.name)
        if registration is None:
            continue
        no_thread = False
        if registration.flags is not None and registration.flags < len(call.args):
            words = set(_WORD.findall(call.args[registration.flags].text))
            no_thread = bool(words & contexts.no_thread_flags)
        for position, context in registration.handlers:
            if position >= len(call.args):
                continue
            name = handler_name(call.args[position].text)
            if name is not None and name not in ("NULL", "0"):
                roles.setdefault(name, []).append(
                    Role(context, f"{call.name}()", facts.path, call.span, no_thread and context == "hardirq"))
    for binding in facts.bindings:
        struct_type = binding.struct_type or (owner_type(binding) if owner_type is not None else "") or ""
        context = _ops_context(struct_type, binding.field, contexts)
        if context is not None:
            roles.setdefault(binding.value, []).append(Role(context, f".{binding.field}", facts.path, binding.span))
    for fn in facts.functions:
        marks = [a for a in fn.annotations if a in contexts.process_annotations]
        if marks:
            roles.setdefault(fn.name, []).append(Role("process", marks[0], facts.path, None))
    return roles


def _ops_context(struct_type: str, field: str, contexts: Contexts) -> str | None:
    """The context of an ops-struct field: by the struct's type, or by the field name alone when the
    type is unknown and every struct that has the field agrees on atomic vs process."""
    name = struct_type[7:] if struct_type.startswith("struct ") else struct_type
    table = contexts.ops.get(name)
    if table is not None and field in table:
        return table[field]
    generic = contexts.ops.get("*", {})
    if field in generic:
        return generic[field]
    if struct_type:
        return None
    found = {t[field] for t in contexts.ops.values() if field in t}
    if len(found) == 1:
        return found.pop()
    if found and all(c in ATOMIC_CONTEXTS for c in found):
        return "atomic"
    return None
