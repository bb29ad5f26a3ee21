"""The modelled allocator: constant folding, C layouts, include-scoped names, arch profiles, --explain-size."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kalloclint.analysis.fold import CInt, Unknown
from kalloclint.analysis.scope import Headers
from kalloclint.analysis.sizing import Sizing
from kalloclint.cli import main
from kalloclint.config import ConfigError, Settings, load_settings
from kalloclint.engine import extract_file, sizing
from kalloclint.frontend.facts import FileFacts
from kalloclint.model import load_model
from kalloclint.model.arch import get_order


@pytest.fixture(scope="module")
def model():
    return load_model()


def folder_for(model, tmp_path: Path, source: str, arch: str | None = None, include_dirs=(), name="t.c"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    run_sizing = sizing(model, Settings(arch=arch, include_dirs=list(include_dirs)))
    facts = extract_file(str(path), model)
    assert isinstance(facts, FileFacts)
    return run_sizing.folder(facts)


def value(folder, text: str) -> int | str:
    v = folder.fold_text(text)
    return v.reason if isinstance(v, Unknown) else v.value


# -- the folder ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("16 * SZ_1M", 16 << 20),
    ("0x10UL << 4", 256),
    ("(1 + 2) * 3 - 4 / 3", 8),
    ("-7 / 2", -3),  # C truncates toward zero
    ("-7 % 2", -1),
    ("~0U", 0xFFFFFFFF),
    ("~0", -1),
    ("(u8)~0U", 255),
    ("(u32)(1ULL << 35 | 5)", 5),
    ("1UL << 40", 1 << 40),
    ("U32_MAX", 0xFFFFFFFF),
    ("SIZE_MAX", (1 << 64) - 1),
    ("0 ? 1 : 2", 2),
    ("1 && 0 || 3", 1),
    ("'A' + 1", 66),
    ("PAGE_SIZE", 4096),
    ("PAGE_SHIFT", 12),
    ("BIT(5) | BIT_ULL(33)", 32 | 1 << 33),
    ("GENMASK(7, 4)", 0xF0),
    ("ALIGN(100, 64)", 128),
    ("DIV_ROUND_UP(10, 3)", 4),
    ("round_up(33, 16)", 48),
    ("max(3, 7) + min_t(u16, 70000, 5)", 7 + 5),
    ("get_order(SZ_8M)", 11),
    ("get_order(4096)", 0),
    ("get_order(4097)", 1),
    ("ilog2(4096)", 12),
    ("roundup_pow_of_two(33)", 64),
    ("sizeof(u64) + sizeof(__le16) + sizeof(dma_addr_t) + sizeof(void *)", 8 + 2 + 8 + 8),
    ("sizeof(unsigned long long int) + sizeof(char) + sizeof(bool)", 10),
    ("sizeof(u8[3][5])", 15),
])
def test_folds_expressions_as_c_does(model, tmp_path, text, want):
    assert value(folder_for(model, tmp_path, ""), text) == want


def test_defines_enums_and_function_macros_of_the_file(model, tmp_path):
    folder = folder_for(model, tmp_path, """
        #define RING		256
        #define RING_BYTES	(RING * DESC_SIZE)
        #define DESC_SIZE	16
        #define SLOT(n)		((n) * RING_BYTES)
        enum q { Q_A, Q_B = 10, Q_C, Q_MAX };
        """)
    assert value(folder, "RING_BYTES") == 4096
    assert value(folder, "SLOT(3)") == 3 * 4096
    assert value(folder, "Q_C") == 11
    assert value(folder, "Q_MAX * 2") == 24


@pytest.mark.parametrize("text,reason", [
    ("n * 4", "'n' is not a constant"),
    ("AMBIG", "more than one definition"),
    ("LOOP", "itself"),
    ("1 << 40", "shift by 40"),
    ("8 / ZERO", "division by zero"),
    ("sizeof(spinlock_t)", "'spinlock_t' is not defined"),
    ("sizeof(struct cond)", "#if"),
    ("sizeof(struct nowhere)", "not defined"),
    ("STR(x)", "stringifies"),
    ("sizeof(struct twice)", "more than one definition"),
    ("sizeof(word_t)", "more than one definition"),
])
def test_unknown_stays_unknown_with_a_reason(model, tmp_path, text, reason):
    folder = folder_for(model, tmp_path, """
        #ifdef CONFIG_A
        #define AMBIG 1
        #else
        #define AMBIG 2
        #endif
        #define LOOP (LOOP + 1)
        #define ZERO 0
        #define STR(x) #x
        #ifdef CONFIG_64BIT
        typedef u64 word_t;
        struct twice { u64 w; };
        #else
        typedef u32 word_t;
        struct twice { u32 w; };
        #endif
        struct cond {
            int a;
        #ifdef CONFIG_B
            int b;
        #endif
        };
        """)
    v = folder.fold_text(text)
    assert isinstance(v, Unknown) and reason in v.reason, v


def test_variables_are_not_constants(model, tmp_path):
    path = tmp_path / "v.c"
    path.write_text("struct s { u32 a; u16 v[]; };\nvoid f(int n) { struct s *p; u8 buf[24]; kfree(p); }\n")
    facts = extract_file(str(path), model)
    folder = sizing(model, Settings()).folder(facts)
    function = facts.functions[0]
    parse = folder.parser.parse
    assert isinstance(folder.fold(parse("n + 1"), function), Unknown)
    assert folder.fold(parse("sizeof(*p)"), function) == CInt(4, 64, False)
    assert folder.fold(parse("sizeof(buf) / sizeof(buf[0])"), function).value == 24
    assert folder.fold(parse("ARRAY_SIZE(buf)"), function).value == 24
    assert folder.fold(parse("struct_size(p, v, 3)"), function).value == 4 + 3 * 2


# -- layouts ------------------------------------------------------------------------------------------

LAYOUTS = """
    struct pad { u8 a; u32 b; u8 c; };
    struct pk { u8 a; u32 b; u8 c; } __packed;
    struct flex { u16 n; u64 v[]; };
    struct old_flex { u32 n; u8 v[0]; };
    struct nest { struct pad p; u16 x; };
    struct arr { u16 a[3]; u8 b[2][5]; u32 *ptrs[2]; };
    union un { u64 x; u8 y[12]; };
    struct anon { u8 t; union { u32 a; u16 b; }; struct { u8 c; u64 d; } in; };
    struct bits { u32 a:3, b:30; u8 c; };
    struct bits2 { u8 a:4, b:4; u16 c:9; };
    struct al { u8 a; u32 b __aligned(16); };
    struct al2 { u8 a; } __aligned(32);
    typedef struct { u64 q; u8 r; } anon_t;
    typedef struct pad pad_t;
    typedef u32 regs_t[4];
    enum small { S_A, S_B = 300 };
    struct en { enum small s; u8 c; };
    struct fnptr { void (*cb)(void *); int n; };
    struct pkbits { u8 a:3; u16 b:11; u32 c:20; u8 d; } __packed;
    struct wide { u64 a:40, b:30; u8 c; u16 d:9; };
    union ubits { u32 a:7; u16 b:12; u8 c; };
    struct inner_pk { u16 x; u32 y; } __packed;
    struct outer { u8 a; struct inner_pk p; u64 z; struct pkbits q[3]; };
    struct tail { u64 a; u8 b; u16 v[]; };
    struct mixed { u8 a; union { u64 b; struct { u8 c; u16 d; }; }; u32 e[0]; };
"""
GCC_ONLY = ["sizeof(struct pkbits)", "sizeof(struct wide)", "offsetof(struct wide, c)", "sizeof(union ubits)",
            "sizeof(struct outer)", "offsetof(struct outer, z)", "offsetof(struct outer, q)", "sizeof(struct tail)",
            "offsetof(struct tail, v)", "sizeof(struct mixed)", "offsetof(struct mixed, d)",
            "__alignof__(struct outer)", "__alignof__(union ubits)"]


LAYOUT_CASES = [
    ("sizeof(struct pad)", 12),
    ("sizeof(struct pk)", 6),
    ("sizeof(struct flex)", 8),
    ("sizeof(struct old_flex)", 4),
    ("sizeof(struct nest)", 16),
    ("offsetof(struct nest, x)", 12),
    ("sizeof(struct arr)", 6 + 10 + 16),  # the pointers start at 16, their alignment
    ("offsetof(struct arr, ptrs)", 16),
    ("sizeof(union un)", 16),
    ("sizeof(struct anon)", 24),
    ("offsetof(struct anon, b)", 4),
    ("offsetof(struct anon, in)", 8),
    ("sizeof_field(struct anon, in.d)", 8),
    ("sizeof(struct bits)", 12),
    ("sizeof(struct bits2)", 4),
    ("sizeof(struct al)", 32),
    ("offsetof(struct al, b)", 16),
    ("sizeof(struct al2)", 32),
    ("sizeof(anon_t)", 16),
    ("sizeof(pad_t)", 12),
    ("sizeof(regs_t)", 16),
    ("sizeof(struct en)", 8),
    ("sizeof(struct fnptr)", 16),
    ("sizeof_field(struct pad, b)", 4),
    ("offsetofend(struct pad, b)", 8),
    ("struct_size_t(struct flex, v, 3)", 32),
    ("__alignof__(struct nest)", 4),
]


@pytest.mark.parametrize("text,want", LAYOUT_CASES)
def test_layouts_follow_the_abi(model, tmp_path, text, want):
    assert value(folder_for(model, tmp_path, LAYOUTS), text) == want


def test_layouts_depend_on_the_profile(model, tmp_path):
    source = "struct page_list { u64 pfn[PAGE_SIZE / 8]; u32 n; };\n"
    assert value(folder_for(model, tmp_path, source), "sizeof(struct page_list)") == 4096 + 8
    assert value(folder_for(model, tmp_path, source, arch="arm64-64k"), "sizeof(struct page_list)") == 65536 + 8


# -- names from headers ---------------------------------------------------------------------------------

def test_headers_are_searched_next_to_the_file_then_in_include_dirs(model, tmp_path):
    (tmp_path / "drv").mkdir()
    (tmp_path / "inc" / "linux").mkdir(parents=True)
    (tmp_path / "drv" / "regs.h").write_text('#include <linux/hw.h>\n#define NREGS 8\n')
    (tmp_path / "inc" / "linux" / "hw.h").write_text("struct hw_reg { __le32 v; u8 pad[REG_PAD]; };\n"
                                                   "#define REG_PAD 12\n")
    source = '#include "regs.h"\n'
    without = folder_for(model, tmp_path, source, name="drv/a.c")
    assert value(without, "NREGS") == 8
    assert "not defined" in value(without, "sizeof(struct hw_reg)")
    with_dir = folder_for(model, tmp_path, source, include_dirs=[str(tmp_path / "inc")], name="drv/a.c")
    assert value(with_dir, "NREGS * sizeof(struct hw_reg)") == 8 * 16


def test_a_header_is_extracted_once_per_run(model, tmp_path):
    (tmp_path / "common.h").write_text("#define COMMON 7\n")
    read = []

    def extract(path):
        read.append(path)
        facts = extract_file(path, model)
        return facts if isinstance(facts, FileFacts) else None

    run_sizing = Sizing.build(model, model.arch.profile(None), Headers(extract))
    for name in ("a.c", "b.c"):
        (tmp_path / name).write_text('#include "common.h"\n')
        folder = run_sizing.folder(extract_file(str(tmp_path / name), model))
        assert folder.fold_text("COMMON").value == 7
    assert len(read) == 1



def test_a_header_read_for_its_sizes_first_is_checked_in_full(model, tmp_path):
    # a.c comes first and reads ring.h for RING_LEN (declarations only); ring.h, checked next, has code of
    # its own whose finding must not be lost to the lighter facts
    from kalloclint.engine import run

    (tmp_path / "ring.h").write_text("#define RING_LEN 16\n"
                                     "static inline void *ring_alloc(int n) { return kmalloc(n * 8, GFP_KERNEL); }\n")
    (tmp_path / "a.c").write_text('#include "ring.h"\nvoid f(int n) { void *p = kmalloc(n * RING_LEN, GFP_KERNEL); }\n')
    found = [(Path(f.path).name, f.location.line, f.code) for f in run([str(tmp_path)], Settings(), model).findings]
    assert found == [("a.c", 2, "KAL201"), ("ring.h", 2, "KAL201")]


# -- profiles -------------------------------------------------------------------------------------------

def test_profiles_agree_with_the_kernel_derivations(model):
    x86 = model.arch.profile("x86_64")
    assert (x86.page_size, x86.max_page_order, x86.kmalloc_max_size) == (4096, 10, 4 << 20)
    assert model.arch.profile(None) is x86
    assert model.arch.profile("arm64") is model.arch.profile("arm64-4k")
    big = model.arch.profile("arm64-64k")
    assert (big.page_size, big.max_page_order, big.kmalloc_max_size, big.kmalloc_max_cache_size) == \
        (65536, 13, 512 << 20, 128 << 10)
    assert x86.size_class(4200) == ("kmalloc-8k", 8192)
    assert x86.size_class(65) == ("kmalloc-96", 96)
    assert x86.size_class(129) == ("kmalloc-192", 192)
    assert x86.size_class(8193) == ("order-2 pages", 16384)
    assert x86.size_class((4 << 20) + 1) is None
    assert big.size_class(8193) == ("kmalloc-16k", 16384)
    assert get_order(SZ_8M := 8 << 20, 12) == 11 and get_order(SZ_8M, 16) == 7


def test_config_keys_and_unknown_arch(model, tmp_path):
    config = tmp_path / ".kalloclint.toml"
    config.write_text('arch = "arm64-16k"\ninclude-dirs = ["inc"]\n')
    settings = load_settings(config)
    assert settings.arch == "arm64-16k" and settings.include_dirs == [str(tmp_path / "inc")]
    with pytest.raises(ConfigError, match="unknown profile"):
        sizing(model, Settings(arch="sparc"))


# -- the command line -----------------------------------------------------------------------------------

def test_explain_size_prints_value_class_and_waste(tmp_path, capsys):
    path = tmp_path / "cmd.c"
    path.write_text("struct cmd_hdr { u32 a, b; };\nstruct cmd_block { struct cmd_hdr h; u8 p[4192]; };\n")
    assert main(["--explain-size", "sizeof(struct cmd_block)", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4200 bytes" in out and "kmalloc-8k (8192 bytes), wasting 3992 bytes (49%)" in out
    assert "layout of struct cmd_block" in out and "4192  p" in out
    assert main(["--explain-size", "sizeof(struct cmd_block)", "--arch", "arm64-64k", str(path)]) == 0
    assert "PAGE_SIZE 65536" in capsys.readouterr().out
    assert main(["--explain-size", "n * 4"]) == 1
    assert "unknown: 'n'" in capsys.readouterr().out
    assert main(["--explain-size", "SZ_1M", "--arch", "vax"]) == 2


# -- against the compiler -------------------------------------------------------------------------------

GCC_PRELUDE = """
#include <stdio.h>
#include <stddef.h>
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32; typedef unsigned long long u64;
typedef unsigned short __le16; typedef unsigned int __le32; typedef unsigned long long __le64;
typedef u64 dma_addr_t;
#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
"""


@pytest.mark.skipif(__import__("shutil").which("gcc") is None, reason="needs gcc")
@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="compares with the x86_64 profile")
def test_layouts_match_gcc_on_x86_64(model, tmp_path):
    """Every sizeof and offsetof of LAYOUTS as this machine's gcc computes them."""
    import subprocess
    queries = [q for q, _ in LAYOUT_CASES if not q.startswith(("struct_size_t", "offsetofend", "sizeof_field"))]
    queries += GCC_ONLY
    program = GCC_PRELUDE + textwrap.dedent(LAYOUTS) + "int main(void) {\n" + "".join(
        f'    printf("%zu\\n", (size_t)({q}));\n' for q in queries) + "    return 0;\n}\n"
    (tmp_path / "layouts.c").write_text(program)
    subprocess.run(["gcc", "-w", "-o", str(tmp_path / "layouts"), str(tmp_path / "layouts.c")], check=True)
    compiled = subprocess.run([str(tmp_path / "layouts")], capture_output=True, text=True, check=True).stdout.split()
    folder = folder_for(model, tmp_path, LAYOUTS)
    assert [value(folder, q) for q in queries] == [int(v) for v in compiled]
