"""Which arm of a preprocessor conditional is kept before parsing, and that offsets and lines are kept."""

from __future__ import annotations

from kalloclint.frontend.conditionals import one_arm
from kalloclint.frontend.extract import extract
from kalloclint.model import load_model
from kalloclint.source import source_from_bytes


def _kept(source: str) -> str:
    """The text tree-sitter is given, with the blanked lines dropped, after checking it lines up."""
    data = source.encode()
    out, _ = one_arm(data)
    assert len(out) == len(data)
    assert [(i, c) for i, c in enumerate(out) if c in b"\r\n"] == [(i, c) for i, c in enumerate(data) if c in b"\r\n"]
    return "\n".join(line.strip() for line in out.decode().splitlines() if line.strip())


def test_arms_that_each_open_a_brace_keep_the_first():
    src = "int f(int a, int b)\n{\n#ifdef X\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t\treturn 1;\n\t}\n\treturn 0;\n}\n"
    assert _kept(src) == "int f(int a, int b)\n{\nif (a) {\nreturn 1;\n}\nreturn 0;\n}"
    out, records = one_arm(src.encode())
    assert out.decode().splitlines()[5] == " " * len("\tif (b) {")  # the #else arm's line, blanked
    assert [(r.kind, r.original) for r in records] == [("preproc", "#ifdef X")]
    assert src[records[0].start:records[0].end].startswith("#ifdef X") and src[:records[0].end].endswith("#endif")


def test_line_ends_are_kept():
    src = "int f(int a, int b)\r\n{\r\n#ifdef X\r\n\tif (a) {\r\n#else\r\n\tif (b) {\r\n#endif\r\n\t}\r\n}\r\n"
    assert _kept(src) == "int f(int a, int b)\n{\nif (a) {\n}\n}"


def test_if_0_keeps_the_else_arm_or_the_first_elif_not_0():
    body = "\tif (a) {\n"
    src = "void f(void)\n{\n#if 0\n" + body + "#else\n\tif (b) {\n#endif\n\t}\n}\n"
    assert "if (b) {" in _kept(src) and "if (a)" not in _kept(src)
    src = "void f(void)\n{\n#if (0) /* off */\n\tif (a) {\n#elif 0\n\tif (b) {\n#elif defined(Y)\n\tif (c) {\n" \
          "#else\n\tif (d) {\n#endif\n\t}\n}\n"
    assert _kept(src) == "void f(void)\n{\nif (c) {\n}\n}"


def test_code_under_if_0_is_blanked_even_when_it_parses():
    src = "void f(void)\n{\n#if 0\n\tif (a) {\n#endif\n\tg();\n}\n"
    assert _kept(src) == "void f(void)\n{\ng();\n}"
    src = "#if 0\nstatic void old(void)\n{\n\tg();\n}\n#endif\nvoid f(void)\n{\n#if 0\n\tg();\n#else\n\th();\n#endif\n}\n"
    assert _kept(src) == "void f(void)\n{\nh();\n}"
    src = "void f(void)\n{\n#ifdef X\n\tg();\n#elif 0\n\th();\n#endif\n}\n"
    assert one_arm(src.encode()) == (src.encode(), ())  # the first arm may be compiled: both stay


def test_conditionals_tree_sitter_parses_are_left_alone():
    src = ("#ifndef _RING_H\n#define _RING_H\nstruct s {\n\tint a;\n#ifdef X\n\tint b;\n#endif\n};\n"
           "void f(void)\n{\n#ifdef X\n\tg();\n#else\n\th();\n#endif\n}\n#ifdef X\n#define N 1\n#else\n#define N 2\n#endif\n"
           "#endif\n")
    assert one_arm(src.encode()) == (src.encode(), ())


def test_nested_conditionals():
    # the inner one cannot be parsed, the outer one then can: only the inner one is reduced
    src = "void f(void)\n{\n#ifdef A\n#ifdef B\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t\tg();\n\t}\n#endif\n}\n"
    assert _kept(src) == "void f(void)\n{\n#ifdef A\nif (a) {\ng();\n}\n#endif\n}"
    # a conditional inside an arm that is not kept goes with it
    src = "void f(void)\n{\n#ifdef A\n\tif (a) {\n#else\n#ifdef B\n\tif (b) {\n#else\n\tif (c) {\n#endif\n#endif\n\t}\n}\n"
    assert _kept(src) == "void f(void)\n{\nif (a) {\n}\n}"


def test_a_conditional_inside_an_expression_keeps_its_arm():
    src = "void f(void)\n{\n\tsize = a\n#if IS_ENABLED(X)\n\t\t+ b\n#endif\n\t\t+ c;\n\tg(x,\n#ifdef Y\n\t  y,\n#endif\n\t  z);\n}\n"
    assert _kept(src) == "void f(void)\n{\nsize = a\n+ b\n+ c;\ng(x,\ny,\nz);\n}"


def test_continued_directive_lines_and_comments():
    src = ("void f(void)\n{\n#if defined(A) && \\\n    defined(B)\n\tif (a) {\n"
           "\t/* a comment that says\n#else\n\t   is not a directive */\n"
           "#else // not taken\n\tif (b) {\n#endif\n\t}\n}\n")
    assert _kept(src) == "void f(void)\n{\nif (a) {\n/* a comment that says\n#else\nis not a directive */\n}\n}"
    src = "void f(void)\n{\n#if \\\n 0\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t}\n}\n"
    assert "if (b)" in _kept(src) and "if (a)" not in _kept(src)


def test_braces_in_literals_and_comments_do_not_count():
    src = "void f(void)\n{\n#ifdef X\n\tg(\"{\", '{'); /* { */\n#else\n\tg(\"}\");\n#endif\n}\n"
    assert one_arm(src.encode()) == (src.encode(), ())


def test_macros_defined_in_the_arm_not_kept_stay_defined():
    src = "void f(void)\n{\n#ifdef X\n#define N 1\n\tif (a) {\n#else\n#define N 2\n\tif (b) {\n#endif\n\t}\n}\n"
    assert _kept(src) == "void f(void)\n{\n#define N 1\nif (a) {\n#define N 2\n}\n}"


def test_a_file_without_conditionals_is_returned_as_it_is():
    data = b"int f(void)\n{\n\treturn 0;\n}\n"
    assert one_arm(data)[0] is data


def test_a_struct_with_a_reduced_conditional_has_no_known_layout():
    model = load_model()
    src = b"struct pkt {\n\tint a;\n#ifdef X\n\tint b[\n#else\n\tlong b[\n#endif\n\t\t4];\n};\n"
    assert not extract(source_from_bytes("pkt.c", src), model).structs[0].complete
    src = b"struct pkt {\n\tint a;\n\tint b[4];\n};\n"
    assert extract(source_from_bytes("pkt.c", src), model).structs[0].complete
