"""Pointer expressions as the lifetime analyses see them: the place a pointer is stored, NULL tests, edges."""

from __future__ import annotations

import re

from kalloclint.analysis.cfg import Node, condition_key
from kalloclint.frontend.facts import Expr, norm
from kalloclint.model import Lifetimes

_PLACE = re.compile(r"[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*")
_ZERO = frozenset({"0", "0L", "0UL", "0U", "NULL", "false"})


class _NotTested:
    def __repr__(self) -> str:
        return "NOT_TESTED"


NOT_TESTED = _NotTested()  # the condition says nothing about the pointer


def unwrap(expr: Expr) -> Expr:
    """The expression inside parentheses and casts."""
    while expr.children and expr.kind in ("paren", "cast"):
        expr = expr.children[-1]
    return expr


def key_of(expr: Expr | None) -> str | None:
    """The place a pointer expression names, as text without white space or casts: `p`, `priv->rx`,
    `bufs[i]`, `*out`; None for anything else (a call, arithmetic)."""
    if expr is None:
        return None
    e = unwrap(expr)
    if e.kind == "ident":
        return None if e.text in ("NULL", "true", "false") else e.text
    if e.kind == "field" and e.children:
        base = key_of(e.children[0])
        return base + e.op if base is not None else None
    if e.kind == "subscript" and len(e.children) == 2:
        base = key_of(e.children[0])
        return f"{base}[{norm(e.children[1].text)}]" if base is not None else None
    if e.kind == "unary" and e.op == "*" and e.children:
        base = key_of(e.children[0])
        return f"*{base}" if base is not None and base.isidentifier() else None  # `*out`, an output parameter
    if e.kind == "opaque":
        text = norm(e.text)
        return text if _PLACE.fullmatch(text) and text not in ("NULL", "true", "false") else None
    return None


def place_expr(expr: Expr) -> Expr:
    """An opaque `priv->rx` argument (of a call the front end does not expand) as a field expression,
    so that its type can be asked; other expressions as they are."""
    if expr.kind != "opaque":
        return expr
    text = norm(expr.text)
    if not _PLACE.fullmatch(text):
        return expr
    parts = re.split(r"(->|\.)", text)
    node = Expr("ident", parts[0], expr.span)
    for i in range(1, len(parts), 2):
        op = parts[i] + parts[i + 1]
        node = Expr("field", node.text + op, expr.span, op, (node,))
    return node


def address_taken(arg: Expr) -> str | None:
    """The place whose address an argument passes (`&p`, `&priv->rx`): the callee may store into it."""
    e = unwrap(arg)
    if e.kind == "unary" and e.op == "&" and e.children:
        return key_of(e.children[0])
    if e.kind == "opaque":
        text = norm(e.text)
        if text.startswith("&") and _PLACE.fullmatch(text[1:]):
            return text[1:]
    return None


def is_weak(key: str) -> bool:
    """An array element: a store to `bufs[i]` does not overwrite what `bufs[j]` holds."""
    return "[" in key


def under(key: str, base: str) -> bool:
    """`key` is reached through `base` (`priv->rx` and `*priv` through `priv`), so changing `base` changes it."""
    if key.startswith("*"):
        return key[1:] == base or under(key[1:], base)
    return len(key) > len(base) and key.startswith(base) and key[len(base)] in "-.["


def base_ident(key: str) -> str:
    return re.split(r"->|\.|\[", key, maxsplit=1)[0]


def is_null(expr: Expr) -> bool:
    e = unwrap(expr)
    return e.kind in ("ident", "number", "opaque") and e.text.strip() in _ZERO


def nonnull_when(cond: Expr, key: str, api: Lifetimes):
    """Which outcome of `cond` shows the place `key` is not NULL (not zero): True, False, None (it is
    tested, but neither outcome tells), or NOT_TESTED."""
    e = unwrap(cond)
    if e.kind == "assign" and e.children and key_of(e.children[0]) == key:
        return True
    if key_of(e) == key:
        return True
    if e.kind == "unary" and e.op == "!" and e.children:
        inner = nonnull_when(e.children[0], key, api)
        return (not inner) if isinstance(inner, bool) else inner
    if e.kind == "call" and e.children and (e.op in api.transparent or e.op in api.null_tests):
        if e.op in api.null_tests:
            return False if key_of(e.children[0]) == key else NOT_TESTED
        return nonnull_when(e.children[0], key, api)
    if e.kind == "binary" and len(e.children) == 2:
        a, b = (assigned(c) for c in e.children)
        if e.op in ("==", "!=", "<", ">"):
            if key_of(a) == key and is_null(b) or key_of(b) == key and is_null(a):
                if e.op == "==":
                    return False
                return True  # `!=`; and `x < 0`, `x > 0` are true only for a nonzero x
            return NOT_TESTED
        if e.op in ("&&", "||"):
            left, right = nonnull_when(a, key, api), nonnull_when(b, key, api)
            decisive = e.op == "||"  # `a || b` false: both false; `a && b` true: both true
            if left is (not decisive) or right is (not decisive):
                return not decisive
            if left is NOT_TESTED and right is NOT_TESTED:
                return NOT_TESTED
            return None
    if any(key_of(n) == key for n in e.walk() if n.kind in ("ident", "field", "opaque")):
        return None if _mentioned_as_value(e, key) else NOT_TESTED
    return NOT_TESTED


def assigned(e: Expr) -> Expr:
    """`(p = kmalloc(...))` in a comparison is a test of p; `q = (p = ...)` stores what p holds."""
    inner = unwrap(e)
    return inner.children[0] if inner.kind == "assign" and inner.children else e


def _mentioned_as_value(e: Expr, key: str) -> bool:
    """The place appears in the condition other than as the base of an access (`p->n > 0` is not a test
    of p, `foo(p)` may be)."""
    for node in e.walk():
        for child in node.children:
            if key_of(child) == key and not (node.kind in ("field", "subscript") and child is node.children[0]):
                return True
    return False


def edge_possible(node: Node, polarity: bool | None) -> bool:
    """False for the edge a constant condition never takes (`do { } while (0)`, `while (1)`)."""
    if polarity is None or node.cond is None:
        return True
    text = unwrap(node.cond).text.strip()
    if text in ("0", "false"):
        return not polarity
    if text in ("1", "true"):
        return polarity
    return True


def loop_variables(node: Node) -> list[str]:
    """The plain variables a loop macro's head hands out (`list_for_each_entry(pos, head, member)`
    assigns pos on every iteration)."""
    if not node.macro or node.cond is None:
        return []
    parts, stack = [], [node.cond]
    while stack:
        e = stack.pop()
        if e.kind == "comma":
            stack.extend(reversed(e.children))
        else:
            parts.append(e)
    return [p.text for p in parts if p.kind == "ident"]


# -- what a path knows about the values of locals, to rule out paths that cannot happen -------------

Facts = frozenset  # of (local, "nonzero", the decimal text of its value, or of its possible values: "0|1")
_MAX_VALUES = 4  # a local that may hold more values than this is unknown (so that counting loops converge)


def fact_of(value: Expr, api: Lifetimes, constant=None) -> str | None:
    """What a store tells about the local it sets: its constant value (a literal, or a macro or enum
    constant by `constant(name)`), or that it is nonzero (`-EIO`, `PTR_ERR(x)`); None for anything else."""
    e = unwrap(value)
    if e.kind == "number":
        number = _integer(e.text)
        return str(number) if number is not None else None
    if e.kind == "ident" and e.text in ("true", "false"):
        return "1" if e.text == "true" else "0"
    if e.kind == "ident" and constant is not None:
        number = constant(e.text)
        return str(number) if number is not None else None
    if e.kind == "unary" and e.op == "-" and e.children:
        inner = unwrap(e.children[0])
        return "nonzero" if inner.kind != "number" or _integer(inner.text) != 0 else "0"
    if e.kind == "call" and e.op in api.error_codes:
        return "nonzero"
    if e.kind == "string" or (e.kind == "unary" and e.op == "&"):
        return "nonzero"  # `why = "no memory";` and `p = &x;` are not NULL
    return None


def fact_after(value: Expr, name: str, facts: Facts, api: Lifetimes, constant=None) -> str | None:
    """What a store of `value` leaves in `name`, given what was known: `i++` steps a known counter."""
    if value.kind == "other":
        text = norm(value.text)
        if text in (name + "++", "++" + name, name + "--", "--" + name):
            values = _values(dict(facts).get(name))
            if values is None:
                return None
            return "|".join(str(v + (1 if "++" in text else -1)) for v in values)
        return None
    return fact_of(value, api, constant)


def with_fact(facts: Facts, name: str | None, fact: str | None) -> Facts:
    """The facts after a store to the place `name` (facts about places reached through it are dropped)."""
    if name is None or is_weak(name):
        return facts
    kept = frozenset(f for f in facts if f[0] != name and not under(f[0], name) and not _mentions(f[0], name))
    return kept | {(name, fact)} if fact is not None else kept


def _mentions(condition: str, name: str) -> bool:
    """A fact about a whole condition (`flags&EVENT`) depends on every place it names."""
    if name not in condition or _PLACE.fullmatch(condition):
        return False
    return re.search(r"(?<![\w>.])" + re.escape(name) + r"(?![\w])", condition) is not None


def tested_facts(tests) -> Facts:
    """Facts from the simple conditions a node is nested under: `if (err)` true means err is nonzero."""
    out = set()
    for text, outcome in tests:
        while text.startswith("!"):
            text, outcome = text[1:], not outcome
        out.add((text, "nonzero" if outcome else "0"))
    return frozenset(out)


def decide(cond: Expr, facts: Facts, api: Lifetimes, constant=None) -> bool | None:
    """The outcome of a condition given what the path knows, or None when it cannot be told (or differs
    between the values a local may hold). `constant(name)` gives the value of a macro or enum constant."""
    if not facts:
        return None
    outcomes = {None if v is None else v != 0 for v in (_value(cond, known, api, constant)
                                                        for known in _choices(cond, facts))}
    return outcomes.pop() if len(outcomes) == 1 else None


def refine(cond: Expr, polarity: bool, facts: Facts, api: Lifetimes, constant=None) -> Facts | None:
    """The facts on the edge where `cond` is `polarity`: a local that may hold several values keeps those
    that take the edge (`i` is 0 or 1 at `i < 1`; 0 where it is true). None when none does."""
    if decide(cond, facts, api, constant) is (not polarity):
        return None
    names = _multi(cond, facts)
    if len(names) != 1:
        return facts
    name = names[0]
    others = frozenset(f for f in facts if f[0] != name)
    kept = [v for v in _values(dict(facts)[name]) or ()
            if decide(cond, others | {(name, str(v))}, api, constant) in (None, polarity)]
    return with_fact(facts, name, "|".join(map(str, kept))) if kept else None


def sharper(facts: Facts, name: str, taught: str) -> str:
    """What an edge teaches about a local (`i > 0`: nonzero), unless the path knows its value already
    (refined to the edge, it is sharper)."""
    current = dict(facts).get(name)
    return current if _values(current) is not None else taught


def join_facts(a: Facts, b: Facts) -> Facts:
    """What two paths both know: the facts they share, and for a local known on both with different
    values, all of them (a counter is 0 or 1 at the head of a loop that ran at most once)."""
    if a == b:
        return a
    common = a & b
    theirs = dict(b - common)
    out = set(common)
    for name, value in a - common:
        mine, other = _values(value), _values(theirs.get(name))
        if mine is not None and other is not None and len(set(mine) | set(other)) <= _MAX_VALUES:
            out.add((name, "|".join(map(str, sorted(set(mine) | set(other))))))
    return frozenset(out)


def _values(fact: str | None) -> list[int] | None:
    """The integers a fact allows ("3", "0|1"); None for "nonzero" or no fact."""
    if fact is None or fact == "nonzero":
        return None
    try:
        return [int(v) for v in fact.split("|")]
    except ValueError:
        return None


def _multi(cond: Expr, facts: Facts) -> list[str]:
    """The locals the condition names that may hold several values."""
    named = {key_of(n) for n in cond.walk() if n.kind in ("ident", "field")}
    return sorted(name for name, value in facts if "|" in value and name in named)


def _choices(cond: Expr, facts: Facts) -> list[dict[str, str]]:
    """What the path knows, once for each combination of the values of the locals the condition names
    that may hold several (at most two such locals are tried; others stay unknown)."""
    known = {name: value for name, value in facts if "|" not in value}
    choices = [known]
    for name in _multi(cond, facts)[:2]:
        values = _values(dict(facts)[name]) or []
        choices = [{**c, name: str(v)} for c in choices for v in values]
    return choices


def _value(expr: Expr, facts: dict[str, str], api: Lifetimes, constant=None):
    """An int, "nonzero", or None (unknown)."""
    e = unwrap(expr)
    if e.kind == "number":
        return _integer(e.text)
    if e.kind in ("binary", "call", "field", "subscript"):
        fact = facts.get(norm(e.text))  # a whole condition tested before (`flags & EVENT`)
        if fact is not None:
            return fact if fact == "nonzero" else int(fact)
    if e.kind in ("ident", "field"):
        fact = facts.get(key_of(e) or "")
        if fact is None and e.kind == "ident" and constant is not None:
            return constant(e.text)
        return fact if fact == "nonzero" else (int(fact) if fact is not None else None)
    if e.kind == "call" and e.op in api.transparent and e.children:
        return _value(e.children[0], facts, api, constant)
    if e.kind == "unary" and e.op == "!" and e.children:
        inner = _value(e.children[0], facts, api, constant)
        return None if inner is None else int(inner != "nonzero" and inner == 0)
    if e.kind != "binary" or len(e.children) != 2:
        return None
    a, b = (_value(c, facts, api, constant) for c in e.children)
    truth = [None if v is None else (v == "nonzero" or v != 0) for v in (a, b)]
    if e.op == "&&":
        return 0 if False in truth else (1 if truth == [True, True] else None)
    if e.op == "||":
        return 1 if True in truth else (0 if truth == [False, False] else None)
    if e.op in ("<", ">", "<=", ">=") and isinstance(a, int) and isinstance(b, int):
        return int({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[e.op])
    if e.op in ("==", "!="):
        if isinstance(a, int) and isinstance(b, int):
            equal = a == b
        elif (a == "nonzero" and b == 0) or (b == "nonzero" and a == 0):
            equal = False
        else:
            return None
        return int(equal == (e.op == "=="))
    return None


def _integer(text: str) -> int | None:
    text = text.strip()
    if text in ("true", "false"):
        return int(text == "true")
    text = text.rstrip("uUlL")
    try:
        return int(text, 0)
    except ValueError:
        return None


def learned(cond: Expr, polarity: bool, api: Lifetimes) -> tuple[str, str] | None:
    """What taking an edge of a simple condition teaches about a local: `if (!err)` false means err is
    nonzero, `if (state == 2)` true means state is 2."""
    e = unwrap(cond)
    while e.kind == "call" and e.op in api.transparent and e.children:
        e = unwrap(e.children[0])
    if e.kind == "unary" and e.op == "!" and e.children:
        return learned(e.children[0], not polarity, api)
    key = key_of(e) if e.kind in ("ident", "field") else None
    if key is not None:
        return key, "nonzero" if polarity else "0"
    if e.kind == "binary" and e.op in ("==", "!=") and len(e.children) == 2:
        a, b = (unwrap(c) for c in e.children)
        if b.kind != "number":
            a, b = b, a
        key, value = key_of(a) if a.kind in ("ident", "field") else None, _integer(b.text)
        if key is not None and value is not None and b.kind == "number":
            if (e.op == "==") == polarity:
                return key, str(value)
            return (key, "nonzero") if value == 0 else None
    if e.kind == "binary" and e.op in ("<", ">") and len(e.children) == 2 and polarity:
        a, b = (unwrap(c) for c in e.children)
        place, zero = (a, b) if b.kind == "number" else (b, a)
        key = key_of(place) if place.kind in ("ident", "field") else None
        if key is not None and zero.kind == "number" and _integer(zero.text) == 0:
            return key, "nonzero"  # `ret < 0` (or `> 0`) holds only for a nonzero ret
    text = condition_text(e, api)  # any other condition without side effects: the same test again
    return (text, "nonzero" if polarity else "0") if text is not None else None


def condition_text(cond: Expr, api: Lifetimes) -> str | None:
    """The text of a condition that gives the same answer each time it is tested (no assignments, and no
    calls but the model's pure tests), so that a later test of it can be decided; else None."""
    return condition_key(cond, api.pure)


def guards(cond: Expr, span) -> list[tuple[Expr, bool]]:
    """The parts of a condition that decide whether the part at `span` is evaluated, with the value they
    must have: `p && p->x` evaluates `p->x` only where `p` is true."""
    out: list[tuple[Expr, bool]] = []
    e = cond
    while True:
        inner = next((c for c in e.children if c.span.start <= span.start and span.end <= c.span.end), None)
        if inner is None:
            return out
        if e.kind == "binary" and e.op in ("&&", "||") and len(e.children) == 2 and inner is e.children[1]:
            out.append((e.children[0], e.op == "&&"))
        elif e.kind == "conditional" and len(e.children) == 3 and inner is not e.children[0]:
            out.append((e.children[0], inner is e.children[1]))
        e = inner


def merge_entries(a: frozenset, b: frozenset) -> frozenset:
    """Join two sets of (place, site, facts) entries: one entry per place and site, knowing what both
    paths know, so that the state stays as small as the places and sites it tracks."""
    if not a or not b or a == b:
        return a or b
    known: dict[tuple[str, int], Facts] = {}
    for key, site, facts in a | b:
        seen = known.get((key, site))
        known[(key, site)] = facts if seen is None else join_facts(seen, facts)
    return frozenset((key, site, facts) for (key, site), facts in known.items())


def macro_outputs(args) -> list[str]:
    """The plain variables given to a call that takes a type (`list_remove_head(&l, buf, struct
    lpfc_dmabuf, list)`, `typeof(*buf)`): such a call is a macro, and macros may assign their arguments."""
    if not any(re.match(r"(struct|union|enum)\b|(typeof|__typeof__)\s*\(", a.text.strip()) for a in args):
        return []
    return [a.text.strip() for a in args if a.text.strip().isidentifier()
            and a.text.strip() not in ("struct", "union", "enum")]
