"""Buffers a file hands to a device for DMA: memory that must stay physically contiguous (KAL206)."""

from __future__ import annotations

from kalloclint.frontend.facts import Expr, Function, norm
from kalloclint.model import DmaBuffers


def buffer_base(expr: Expr) -> str:
    """The pointer a buffer argument is computed from, without white space: `priv->buf` for
    `priv->buf`, `(void *)priv->buf`, `priv->buf + off` and `&priv->buf[i]`."""
    text = norm(expr.text)
    while text.startswith("("):
        close = _closing(text)
        if close < 0:
            return ""
        # `(x)` is parenthesised, `(T *)x` a cast
        text = text[1:close] if close == len(text) - 1 else text[close + 1:]
        text = text.lstrip("&")
    text = text.lstrip("&")
    for stop in ("+", "["):
        if stop in text:
            text = text[:text.index(stop)]
    return text


def _closing(text: str) -> int:
    """The index of the parenthesis closing the one `text` starts with, or -1."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return i
    return -1


def dma_buffer_names(functions: tuple[Function, ...], model: DmaBuffers) -> frozenset[str]:
    """The pointers of a file that reach a device: an argument of a call that hands a buffer to a device
    (`dma_map_single(dev, buf, ...)`, `usb_fill_bulk_urb(..., buf, ...)`), or a value stored into a member
    that holds one (`urb->transfer_buffer = buf`). Members (`priv->buf`) count for the whole file, plain
    names only in their function (see `_key`)."""
    out: set[str] = set()
    for function in functions:
        for call in function.calls:
            for position in model.uses.get(call.name, ()):
                if position < len(call.args):
                    out.add(_key(function, buffer_base(call.args[position])))
        for store in function.stores:
            if store.value.kind != "other" and _member(norm(store.target.text)) in model.fields:
                out.add(_key(function, buffer_base(store.value)))
    return frozenset(out)


def holds_dma_buffer(function: Function, target: Expr | None, names: frozenset[str], model: DmaBuffers) -> bool:
    """Whether an allocation stored into `target` is a DMA buffer: the target is a member that holds one
    (`urb->transfer_buffer = kzalloc(...)`) or a pointer the file hands to a device."""
    if target is None:
        return False
    text = norm(target.text)
    return _key(function, text) in names or _member(text) in model.fields


def _key(function: Function, text: str) -> str:
    """A member expression as it is; a plain name (a local or parameter) with its function's name."""
    return f"{function.name}:{text}" if text.isidentifier() else text


def _member(text: str) -> str:
    """The last member named in `a->b.c` (`c`), or "" for a plain name."""
    cut = max(text.rfind("->") + 1, text.rfind("."))
    return text[cut + 1:] if cut > 0 else ""
