#!/usr/bin/env python3
"""Generates include/genarm/tokenizer/detail/unicode_tables.hpp from Python's unicodedata.

The tokenizer needs Unicode data that C++ does not ship: general categories (regex \\p{L},
\\p{N}, ...), White_Space, simple case folding (regex (?i)), full lowercase mappings (the
Lowercase normalizer), canonical combining classes, decompositions and primary compositions
(NFC/NFD/NFKC/NFKD). Everything is derived from `unicodedata`, so the tables match the Unicode
version of the interpreter that ran this script (it is written into the header). CI does not run
this script: the generated header is committed.

Usage: python3 tools/unicode/gen_unicode_tables.py [output.hpp]
"""

import os
import sys
import unicodedata

MAX_CP = 0x110000
HANGUL_FIRST = 0xAC00
HANGUL_LAST = 0xD7A3

# Order matters: it is the numbering of genarm::tokenizer::GeneralCategory.
CATEGORIES = [
    "Lu", "Ll", "Lt", "Lm", "Lo",
    "Mn", "Mc", "Me",
    "Nd", "Nl", "No",
    "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
    "Sm", "Sc", "Sk", "So",
    "Zs", "Zl", "Zp",
    "Cc", "Cf", "Cs", "Co", "Cn",
]

# PropList.txt White_Space. unicodedata does not expose it (str.isspace() differs: it includes
# U+001C..U+001F), and the list has been stable since Unicode 6.3 removed U+180E.
WHITE_SPACE = [(0x0009, 0x000D), (0x0020, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0),
               (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F),
               (0x205F, 0x205F), (0x3000, 0x3000)]

# Characters that are Alphabetic (hence regex \w) without being a letter, a mark or Nl:
# PropList.txt Other_Alphabetic minus general category M, plus Join_Control. Not exposed by
# unicodedata; these ranges have been stable for many Unicode versions.
EXTRA_WORD = [(0x200C, 0x200D), (0x24B6, 0x24E9), (0x1F130, 0x1F149),
              (0x1F150, 0x1F169), (0x1F170, 0x1F189)]


def chars():
    for cp in range(MAX_CP):
        yield cp, chr(cp)


def category_ranges():
    """(start, category index) for every run of equal category; runs cover all code points."""
    runs = []
    prev = None
    for cp, c in chars():
        cat = CATEGORIES.index(unicodedata.category(c))
        if cat != prev:
            runs.append((cp, cat))
            prev = cat
    return runs


def simple_folds():
    """cp -> simple case fold, for cp whose fold differs. casefold() gives full folding; a
    one-character result equals the simple fold, otherwise fall back to lower()."""
    out = []
    for cp, c in chars():
        if 0xD800 <= cp <= 0xDFFF:
            continue
        f = c.casefold()
        if len(f) != 1:
            f = c.lower()
        if len(f) == 1 and ord(f) != cp:
            out.append((cp, ord(f)))
    return out


def lowercase_map():
    """cp -> full lowercase mapping (one to three code points), for cp that change."""
    out = []
    for cp, c in chars():
        if 0xD800 <= cp <= 0xDFFF:
            continue
        low = c.lower()
        if low != c:
            out.append((cp, [ord(x) for x in low]))
    return out


def combining_classes():
    runs = []
    for cp, c in chars():
        ccc = unicodedata.combining(c)
        if ccc == 0:
            continue
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == ccc:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, ccc])
    return runs


def decompositions():
    """cp -> (full canonical decomposition, full compatibility decomposition); Hangul syllables
    are left to the algorithm. An empty canonical list means 'no canonical decomposition'."""
    out = []
    for cp, c in chars():
        if 0xD800 <= cp <= 0xDFFF or HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        nfd = unicodedata.normalize("NFD", c)
        nfkd = unicodedata.normalize("NFKD", c)
        if nfd == c and nfkd == c:
            continue
        canon = [ord(x) for x in nfd] if nfd != c else []
        compat = [ord(x) for x in nfkd]
        out.append((cp, canon, compat))
    return out


def compositions():
    """(first, second, composite) for every primary composite outside Hangul."""
    out = []
    for cp, c in chars():
        if 0xD800 <= cp <= 0xDFFF or HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        d = unicodedata.decomposition(c)
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) != 2:
            continue
        # A composite that NFC keeps as is is a primary composite (not excluded).
        if unicodedata.normalize("NFC", c) != c:
            continue
        out.append((parts[0], parts[1], cp))
    out.sort()
    return out


def fmt_list(items, per_line, indent="    "):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append(indent + ", ".join(items[i:i + per_line]) + ",")
    return "\n".join(lines)


def hx(v):
    return "0x%X" % v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "..", "include", "genarm", "tokenizer", "detail",
                               "unicode_tables.hpp")
    out_path = sys.argv[1] if len(sys.argv) > 1 else default_out

    cats = category_ranges()
    folds = simple_folds()
    lowers = lowercase_map()
    cccs = combining_classes()
    decomps = decompositions()
    comps = compositions()

    pool = []
    decomp_rows = []
    for cp, canon, compat in decomps:
        c_off = len(pool)
        pool.extend(canon)
        k_off = len(pool)
        if compat == canon:
            k_off = c_off
        else:
            pool.extend(compat)
        decomp_rows.append("{%s, %d, %d, %d, %d}" % (hx(cp), c_off, len(canon), k_off,
                                                       len(compat)))
    lower_pool = []
    lower_rows = []
    for cp, mapped in lowers:
        lower_rows.append("{%s, %d, %d}" % (hx(cp), len(lower_pool), len(mapped)))
        lower_pool.extend(mapped)

    version = unicodedata.unidata_version
    o = []
    o.append("// GENERATED by tools/unicode/gen_unicode_tables.py from Python %s unicodedata "
             "(Unicode %s)." % (sys.version.split()[0], version))
    o.append("// Do not edit by hand: re-run the script. Internal to genarm/tokenizer/unicode.hpp.")
    o.append("#pragma once")
    o.append("")
    o.append("#include <cstdint>")
    o.append("")
    o.append("namespace genarm::tokenizer::detail {")
    o.append("")
    o.append('inline constexpr const char* kUnicodeVersion = "%s";' % version)
    o.append("")
    o.append("// General category runs: {first code point, category index}; a run ends where the")
    o.append("// next begins, the last ends at U+10FFFF. Category indices follow GeneralCategory.")
    o.append("struct CategoryRun { uint32_t first; uint8_t category; };")
    o.append("inline constexpr CategoryRun kCategoryRuns[] = {")
    o.append(fmt_list(["{%s, %d}" % (hx(a), b) for a, b in cats], 8))
    o.append("};")
    o.append("")
    o.append("// White_Space (PropList.txt): inclusive ranges.")
    o.append("struct CodeRange { uint32_t first; uint32_t last; };")
    o.append("inline constexpr CodeRange kWhiteSpace[] = {")
    o.append(fmt_list(["{%s, %s}" % (hx(a), hx(b)) for a, b in WHITE_SPACE], 6))
    o.append("};")
    o.append("")
    o.append("// Alphabetic code points that are neither letters, marks nor Nl, plus Join_Control:")
    o.append("// added to L|Nl|M|Nd|Pc to form regex \\w.")
    o.append("inline constexpr CodeRange kExtraWord[] = {")
    o.append(fmt_list(["{%s, %s}" % (hx(a), hx(b)) for a, b in EXTRA_WORD], 6))
    o.append("};")
    o.append("")
    o.append("// Simple case folding {code point, folded}, sorted by code point.")
    o.append("struct FoldPair { uint32_t from; uint32_t to; };")
    o.append("inline constexpr FoldPair kSimpleFold[] = {")
    o.append(fmt_list(["{%s, %s}" % (hx(a), hx(b)) for a, b in folds], 8))
    o.append("};")
    o.append("")
    o.append("// Full lowercase mappings {code point, offset, length} into kLowercasePool.")
    o.append("struct MappingRow { uint32_t cp; uint16_t offset; uint8_t length; };")
    o.append("inline constexpr MappingRow kLowercase[] = {")
    o.append(fmt_list(lower_rows, 6))
    o.append("};")
    o.append("inline constexpr uint32_t kLowercasePool[] = {")
    o.append(fmt_list([hx(v) for v in lower_pool], 12))
    o.append("};")
    o.append("")
    o.append("// Canonical combining classes != 0: inclusive ranges with their class.")
    o.append("struct CombiningRange { uint32_t first; uint32_t last; uint8_t ccc; };")
    o.append("inline constexpr CombiningRange kCombiningClass[] = {")
    o.append(fmt_list(["{%s, %s, %d}" % (hx(a), hx(b), c) for a, b, c in cccs], 6))
    o.append("};")
    o.append("")
    o.append("// Full decompositions {code point, canonical offset, canonical length, compatibility")
    o.append("// offset, compatibility length} into kDecompositionPool. Canonical length 0: the code")
    o.append("// point has only a compatibility decomposition. Hangul syllables are algorithmic.")
    o.append("struct DecompositionRow {")
    o.append("  uint32_t cp;")
    o.append("  uint16_t canonical_offset;")
    o.append("  uint8_t canonical_length;")
    o.append("  uint16_t compat_offset;")
    o.append("  uint8_t compat_length;")
    o.append("};")
    o.append("inline constexpr DecompositionRow kDecomposition[] = {")
    o.append(fmt_list(decomp_rows, 4))
    o.append("};")
    o.append("inline constexpr uint32_t kDecompositionPool[] = {")
    o.append(fmt_list([hx(v) for v in pool], 12))
    o.append("};")
    o.append("")
    o.append("// Primary compositions {first, second, composite}, sorted by (first, second).")
    o.append("struct CompositionRow { uint32_t first; uint32_t second; uint32_t composite; };")
    o.append("inline constexpr CompositionRow kComposition[] = {")
    o.append(fmt_list(["{%s, %s, %s}" % (hx(a), hx(b), hx(c)) for a, b, c in comps], 4))
    o.append("};")
    o.append("")
    o.append("}  // namespace genarm::tokenizer::detail")
    o.append("")

    assert len(pool) < 65536 and len(lower_pool) < 65536
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(o))
    print("wrote %s: %d category runs, %d folds, %d lowercase, %d ccc ranges, %d decompositions,"
          " %d compositions" % (out_path, len(cats), len(folds), len(lowers), len(cccs),
                                len(decomps), len(comps)))


if __name__ == "__main__":
    main()
