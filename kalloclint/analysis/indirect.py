"""Calls through function pointers held in struct fields (`priv->ops->add_sa(...)`, `hw->mac.ops.reset_hw(hw)`),
resolved to the functions stored in that field anywhere in the tree: a field-based points-to set, as in DSAC
(Bai et al., "Effective Detection of Sleep-in-atomic-context Bugs in the Linux Kernel").

Per file, a call's slot is (struct type of the receiver when the declarations tell it, field name), and every
function stored in a field (`.reset_hw = ixgbe_reset_hw_82599` in an initialiser, `p->done = my_done`) is a
binding of (struct type when known, field, function). In the whole-tree phase one pass over the bindings
builds the table; a call's targets are then:
- receiver type known: the functions bound to that field of that struct type (and those bound to the field
  through an owner of unknown type, when no other struct type binds the field);
- receiver type unknown: the functions bound to the field that are defined in the caller's directory, only
  when the field name is specific: no two struct types bind it and it has at most MAX_UNTYPED such
  targets. Generic kernel fields such as `ndo_open`, bound by every driver of a tree, would otherwise make
  any call reach every driver; and a field name can be one driver's and another's at once (mvsas and
  pm8001 both call `->interrupt_enable` through `*_CHIP_DISP` macros, whose type is not known).
A call in atomic context is reported when every target may sleep: one sleeping implementation among
several is usually a variant (another chip, another firmware path) that the caller's device never uses.
Elsewhere such a call makes its function one that may sleep (wholetree.Tree, which builds the table once)."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from kalloclint.frontend.facts import Call, Expr, FieldBinding, Function, norm
from kalloclint.source import Span

# A receiver written as a chain of names (`priv->ops`, `hw->mac.ops`, `dev->netdev_ops`) then the field.
_SLOT_CALL = re.compile(r"(?P<receiver>[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*)(?P<op>->|\.)(?P<field>[A-Za-z_]\w*)")
_STEP = re.compile(r"(->|\.)")
# Targets a field of unknown struct type may have before the field is taken to be a generic one.
MAX_UNTYPED = 2


class Slot(NamedTuple):
    """Where a called function pointer is read from: `struct_type` ("" when unknown) and `field`. A struct
    type is its name and the file that defines it (`e1000_mac_operations@.../igbvf/vf.h`): drivers define
    private structs of the same name (igb, igbvf and e1000e each have a `struct e1000_mac_operations`)."""

    struct_type: str
    field: str


class Binding(NamedTuple):
    """A function stored in a struct field (`struct_type` "" when unknown)."""

    struct_type: str
    field: str
    function: str


def call_slot(ctx, function: Function, call: Call, homes: dict[str, str]) -> Slot | None:
    """The slot of a call through a struct field, with the receiver's struct type when the declarations of
    the function's locals and parameters, the file's globals and the structs the file sees tell it.
    `homes` remembers, for the file, where each struct name is defined."""
    m = _SLOT_CALL.fullmatch(norm(call.name))
    if m is None:
        return None
    owner = _chain_expr(m["receiver"])
    found = ctx.type_of(owner, function)
    wanted = 1 if m["op"] == "->" else 0
    struct_type = found.struct_name if found is not None and found.pointer == wanted else None
    return Slot(_qualified(ctx, struct_type, homes) if struct_type else "", m["field"])


def _qualified(ctx, name: str, homes: dict[str, str]) -> str:
    """`name@path` of the file (the checked file or a header it includes) that defines struct `name`;
    the bare name when none of them does (a kernel header the run was not given: its name is unique)."""
    if name not in homes:
        home = ""
        if any(s.name == name for s in ctx.facts.structs):
            home = os.path.realpath(ctx.facts.path)
        elif ctx.folder is not None:
            home = next((os.path.realpath(f.path) for f in ctx.folder.scope.files()
                         if any(s.name == name for s in f.structs)), "")
        homes[name] = f"{name}@{home}" if home else name
    return homes[name]


def _chain_expr(text: str) -> Expr:
    """`hw->mac.ops` as the Expr tree types.type_of reads (spans are not used there)."""
    parts = _STEP.split(text)
    expr = Expr("ident", parts[0], Span(0, 0))
    for i in range(1, len(parts), 2):
        expr = Expr("field", expr.text + parts[i] + parts[i + 1], Span(0, 0), parts[i] + parts[i + 1], (expr,))
    return expr


def file_bindings(ctx, homes: dict[str, str]) -> tuple[Binding, ...]:
    """Every function the file stores in a struct field, with the struct type when it can be told. A value
    that names a local or parameter of the storing function is data, not a function, and is left out."""
    functions = {f.name: f for f in ctx.facts.functions}
    out = set()
    for binding in ctx.facts.bindings:
        where = functions.get(binding.function) if binding.function else None
        if where is not None and where.decl(binding.value) is not None:
            continue
        struct_type = _bound_type(ctx, binding, where)
        out.add(Binding(_qualified(ctx, struct_type, homes) if struct_type else "", binding.field, binding.value))
    return tuple(sorted(out))


def _bound_type(ctx, binding: FieldBinding, where: Function | None) -> str:
    name = binding.struct_type
    for prefix in ("struct ", "union "):
        if name.startswith(prefix):
            return name[len(prefix):].strip()
    if name or binding.owner is None:
        return name
    # `p->fn = f` (p a pointer) or `s.fn = f`, `p->timer.function = f` (a struct): the owner's struct type
    found = ctx.type_of(binding.owner, where)
    return (found.struct_name or "") if found is not None and found.pointer <= 1 else ""


class FieldTargets:
    """The field-based points-to table of a tree: built in one pass over every file's bindings."""

    def __init__(self, tree):
        self.typed: dict[tuple[str, str], list] = {}  # (struct type, field) -> functions
        self.untyped: dict[str, list] = {}  # field -> functions stored through an owner of unknown type
        self.types: dict[str, set[str]] = {}  # field -> struct types that bind it
        seen: set[tuple[str, str, int]] = set()
        for summary in tree.files:
            for struct_type, field, name in summary.bindings:
                for g in tree.resolve(name, summary.path):
                    if (struct_type, field, id(g)) in seen:
                        continue
                    seen.add((struct_type, field, id(g)))
                    if struct_type:
                        self.typed.setdefault((struct_type, field), []).append(g)
                        self.types.setdefault(field, set()).add(struct_type)
                    else:
                        self.untyped.setdefault(field, []).append(g)

    def targets(self, slot: Slot, caller_path: str) -> list:
        """The functions a call through `slot` made in `caller_path` may reach under the policy above; []
        when unknown."""
        types = self.types.get(slot.field, set())
        untyped = self.untyped.get(slot.field, [])
        if slot.struct_type:
            found = list(self.typed.get((slot.struct_type, slot.field), []))
            if types <= {slot.struct_type}:
                found.extend(g for g in untyped if g not in found)
            return found
        if len(types) > 1:
            return []
        found = list(self.typed.get((next(iter(types)), slot.field), [])) if types else []
        found.extend(g for g in untyped if g not in found)
        here = os.path.dirname(caller_path)
        found = [g for g in found if os.path.dirname(g.path) == here]
        return found if len(found) <= MAX_UNTYPED else []


class IndirectSleep(NamedTuple):
    """A call through a function pointer in atomic context whose targets all may sleep."""

    function: object  # the caller's FunctionSummary
    site: object  # its Site (callee: the call's text, slot: where the pointer is read from)
    reason: object  # why the call is atomic
    target: str  # the target named in the message
    chain: tuple  # from the call down to the sleeping operation, through `target`


def sleeping_indirect_calls(tree):
    """Calls through struct fields in atomic context where every function the field may hold may sleep
    with the arguments given (the first such target, in name order, is the one the message shows)."""
    for f in tree.functions:
        calls = tree.indirect.get(id(f))
        if not calls:
            continue
        foreign = tree.foreign_atomic_reason(f)
        for site, targets in calls:
            reason = site.atomic or foreign
            if reason is None or any(a is not None and tree.gfp_sleeps(a) for a in site.args):
                continue
            found = tree.indirect_sleep(site, f, targets)
            if found is not None:
                yield IndirectSleep(f, site, reason, found[0].name, found[1])
