#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate libbusclient's man pages from client/busclient.h.

The pages say exactly what the header says: one page per group of the header
("---- Connections ----" etc.), named after the group's first function, with
the group's declarations as SYNOPSIS and each doc comment, in order, as
DESCRIPTION; one alias page (.so) per other function; and busclient(3), the
overview: the header's opening comment and the list of groups.

Usage: client/man/generate.py [SRCDIR [OUTDIR]]   (defaults: . and SRCDIR/client/man)
Run it after changing busclient.h and commit the result; tests/test-man-pages.sh
checks that the committed pages are what it makes. Writes OUTDIR/local.mk, the
automake fragment that installs them.
"""
import os
import re
import sys

srcdir = sys.argv[1] if len(sys.argv) > 1 else "."
outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(srcdir, "client", "man")
header = open(os.path.join(srcdir, "client", "busclient.h"), encoding="utf-8").read()
version = "0"
for line in open(os.path.join(srcdir, "configure.ac"), encoding="utf-8"):
    m = re.match(r"AC_INIT\(\[[^]]*\],\s*\[([^]]*)\]", line)
    if m:
        version = m.group(1)

PAGE_NAMES = ["bus_add_interface", "bus_error_set", "bus_connection_process", "bus_call"]
FUNC = re.compile(r"[\s*](bus_[A-Za-z0-9_]+)\s*\(")
SECTION = re.compile(r"^/\* (?:----|====) (.+?) -*=*\s*(\*/|\*)?\s*$")


def roff_escape(text):
    text = text.replace("\\", "\\e")
    # Non-ASCII as groff's Unicode escapes: the pages are ASCII.
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)


def roff_line(text):
    text = roff_escape(text)
    if text.startswith(".") or text.startswith("'"):
        text = "\\&" + text
    return text


def comment_lines(block):
    """The text lines of a /* ... */ block, prefixes removed."""
    lines = block.split("\n")
    out = []
    for i, line in enumerate(lines):
        # The end first: " */" alone would otherwise leave its "/".
        s = re.sub(r"\s*\*/\s*$", "", line)
        if i == 0:
            s = re.sub(r"^\s*/\*+ ?", "", s)
        else:
            s = re.sub(r"^\s*\* ?", "", s, count=1)
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def render_comment(lines):
    """Comment text as roff: blank lines are paragraphs, "- " items bullets
    (their indented continuation lines filled in), other indented lines keep
    their line breaks."""
    out = []
    bullet = None  # indentation of the continuation lines of the current item
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            out.append(".PP")
            bullet = None
        elif re.match(r"^\s*- ", line):
            out.append(".IP \\(bu 2")
            out.append(roff_line(line.strip()[2:]))
            bullet = indent + 2
        elif bullet is not None and indent == bullet:
            out.append(roff_line(line.strip()))
        elif indent >= 2:
            out.append(".br")
            out.append(roff_line(line.strip()))
            bullet = None
        else:
            if bullet is not None:
                out.append(".PP")
                bullet = None
            out.append(roff_line(line.strip()))
    return out


def tokens(text):
    """Comments and code of a section, in order: ("comment", text) / ("code", text)."""
    out = []
    pos = 0
    code_from = 0
    while pos < len(text):
        start = text.find("/*", pos)
        if start < 0:
            break
        end = text.find("*/", start)
        line_start = text.rfind("\n", 0, start) + 1
        if text[line_start:start].strip():
            # A comment after code on its line belongs to the code.
            pos = end + 2
            continue
        if start > code_from:
            out.append(("code", text[code_from:start]))
        out.append(("comment", text[start:end + 2]))
        pos = code_from = end + 2
    if code_from < len(text):
        out.append(("code", text[code_from:]))
    return [(k, v) for k, v in out if v.strip()]


def declared_names(code):
    names = FUNC.findall(" " + code)
    for m in re.finditer(r"typedef\s+(?:struct|enum)?\s*[A-Za-z_0-9]*\s*\{?[^;]*?\}?\s*\(?\*?([a-z_][A-Za-z0-9_]*)\)?\s*(?:\(|;)", code):
        pass
    defines = re.findall(r"#define\s+([A-Z_0-9]+)", code)
    typedefs = re.findall(r"\}\s*([a-z_][A-Za-z0-9_]*)\s*;", code)
    typedefs += re.findall(r"typedef\s+\w+\s*\(\*([a-z_][A-Za-z0-9_]*)\)", code)
    typedefs += re.findall(r"typedef\s+struct\s+\w+\s+([a-z_][A-Za-z0-9_]*)\s*;", code)
    return names, typedefs, defines


# ---- split the header ---------------------------------------------------------------------

# The opening comment: the first after the SPDX line.
intro_start = header.index("/*", header.index("*/"))
intro = comment_lines(header[intro_start:header.index("*/", intro_start) + 2])
lines = header.split("\n")
sections = []  # (title, text)
cur = None
for line in lines:
    m = SECTION.match(line)
    if m:
        cur = [m.group(1).strip(), []]
        sections.append(cur)
        # A section header that opens a longer comment: keep the rest of it.
        if m.group(2) == "*":
            cur[1].append("/*")
        continue
    if cur is not None:
        if line.startswith("#ifdef __cplusplus"):
            cur = None
            continue
        cur[1].append(line)
sections = [(t, "\n".join(body)) for t, body in sections]

pages = []  # (page, title, functions)
files = {}

for title, body in sections:
    toks = tokens(body)
    funcs = []
    for kind, text in toks:
        if kind == "code":
            funcs += FUNC.findall(" " + text)
    funcs = list(dict.fromkeys(funcs))
    if not funcs:
        continue
    # A group is named after its first function, unless another names it better.
    page = next((f for f in PAGE_NAMES if f in funcs), funcs[0])
    short = re.sub(r"\s*\(issue #\d+\)", "", title)
    short = short.split(":")[0]
    out = []
    out.append(".\\\" SPDX-License-Identifier: LGPL-2.1-or-later")
    out.append(".\\\" Generated from client/busclient.h by client/man/generate.py: do not edit.")
    out.append('.TH %s 3 "" "busd %s" "libbusclient"' % (page.upper(), version))
    out.append(".SH NAME")
    out.append(", ".join(f.replace("_", "_") for f in funcs) + " \\- " + short.lower())
    out.append(".SH SYNOPSIS")
    out.append(".nf")
    out.append(".B #include <busclient.h>")
    out.append(".PP")
    code_all = []
    for kind, text in toks:
        if kind == "code":
            code_all.append(text.strip("\n"))
    synopsis = "\n\n".join(c for c in code_all if c.strip())
    synopsis = re.sub(r"\n{3,}", "\n\n", synopsis)
    for line in synopsis.split("\n"):
        out.append(roff_line(line) if line.strip() else "")
    out.append(".fi")
    out.append(".SH DESCRIPTION")
    first = True
    for i, (kind, text) in enumerate(toks):
        if kind != "comment":
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        clines = comment_lines(text)
        if not clines:
            continue
        if nxt and nxt[0] == "code" and not text.strip().endswith("*/\n") and \
                body.find(text) >= 0 and body[body.find(text) + len(text):].startswith("\n") and \
                not body[body.find(text) + len(text):].startswith("\n\n"):
            names, typedefs, defines = declared_names(nxt[1])
            label = names or typedefs or defines
            if label:
                out.append(".TP")
                out.append(".B " + ", ".join((n + "()") if n in names else n for n in label))
                out.extend(l if l != ".PP" else ".IP" for l in render_comment(clines))
                continue
        out.append(".PP")
        out.extend(render_comment(clines))
    out.append(".SH SEE ALSO")
    out.append(".BR busclient (3)")
    files[page + ".3"] = "\n".join(out) + "\n"
    for f in funcs:
        if f != page:
            files[f + ".3"] = ".so man3/%s.3\n" % page
    pages.append((page, short, funcs))

# ---- busclient(3) -----------------------------------------------------------------------------

out = []
out.append(".\\\" SPDX-License-Identifier: LGPL-2.1-or-later")
out.append(".\\\" Generated from client/busclient.h by client/man/generate.py: do not edit.")
out.append('.TH BUSCLIENT 3 "" "busd %s" "libbusclient"' % version)
out.append(".SH NAME")
out.append("busclient \\- the client library of the busd message bus")
out.append(".SH SYNOPSIS")
out.append(".nf")
out.append(".B #include <busclient.h>")
out.append(".PP")
out.append(".B cc ... $(pkg\\-config \\-\\-cflags \\-\\-libs busclient)")
out.append(".fi")
out.append(".SH DESCRIPTION")
out.append("libbusclient connects to a")
out.append(".BR busd (8)")
out.append("bus, calls methods and answers them, sends and receives signals, serves objects")
out.append("with declared interfaces and properties, and passes bulk data as payloads.")
out.append("Bodies are JSON values of jansson. What follows is the opening comment of")
out.append(".IR busclient.h ;")
out.append("each group of functions has a page of its own (below).")
out.append(".PP")
out.extend(render_comment(intro[1:] if intro and intro[0].startswith("busclient.h") else intro))
out.append(".SH FUNCTION GROUPS")
for page, short, funcs in pages:
    out.append(".TP")
    out.append(".BR %s (3)" % page)
    out.append(roff_line(short) + ": " + ", ".join(funcs[:6]) + (", ..." if len(funcs) > 6 else "") + ".")
out.append(".SH SEE ALSO")
out.append(", ".join(".BR %s (3)" % p for p, _, _ in pages).replace(", .BR", ",\n.BR") + ",")
out.append(".BR busd (8),")
out.append(".BR busdctl (1)")
files["busclient.3"] = "\n".join(out) + "\n"

# ---- the automake fragment --------------------------------------------------------------------

names = sorted(files)
mk = ["# SPDX-License-Identifier: LGPL-2.1-or-later",
      "# Generated by client/man/generate.py: the man pages of libbusclient, installed",
      "# by make install (tests/test-man-pages.sh checks they match busclient.h).",
      "dist_man_MANS += \\"]
mk += ["\tclient/man/%s%s" % (n, " \\" if i + 1 < len(names) else "") for i, n in enumerate(names)]
mk.append("EXTRA_DIST += client/man/generate.py")
files["local.mk"] = "\n".join(mk) + "\n"

os.makedirs(outdir, exist_ok=True)
for name, text in files.items():
    with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
        f.write(text)
