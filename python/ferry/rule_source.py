"""The source text of Ferry's built-in rules, read from the C++ files that register them.

The core records where each rule was registered: the file and line of its `Registry::add`
call. This module turns that into what a reader wants to see: the registration statement and
the lowering functions it names. It reads C++ only as far as that needs: comments, string
literals and preprocessor lines are blanked out, so that brackets can be counted.

A rule registered inside a helper (`add_unary(registry, "relu", "relu")` registers through one
`registry.add` inside `add_unary`) is traced back to the helper's call for that rule when
exactly one call's string literals name it; otherwise the helper itself is shown.
"""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

# A function a statement names: called (`lower_rnn(ctx, ...)`) or passed (`lower_conv,`), not
# a member (`ctx.in(...)`, `registry.add(...)`) and not a type (`LowerContext& ctx`).
_NAMED_FUNCTION = re.compile(r"(?<![\w.:>])([A-Za-z_]\w*)\s*(?=[(,)};])")


@dataclass(frozen=True)
class Function:
    """A function defined at namespace scope."""

    name: str
    start: int  # first character of its declaration
    brace: int  # the `{` opening its body
    end: int  # one past the closing `}`
    header: str  # the declaration, blanked

    @property
    def member(self) -> bool:
        """A class member defined outside its class (`LowerContext::in`)."""
        return re.search(rf"::\s*~?{re.escape(self.name)}\s*\(", self.header) is not None

    @property
    def lowers(self) -> bool:
        """A lowering function: takes a LowerContext, or makes a LowerFn."""
        return "LowerContext" in self.header or re.search(r"\bLowerFn\b", self._returns) is not None

    @property
    def registers(self) -> bool:
        """A registration helper: takes the Registry."""
        return re.search(r"\bRegistry\s*&", self.header) is not None

    @property
    def _returns(self) -> str:
        return self.header[: self.header.find("(")]


class CppFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8", errors="replace")
        self.code, self.literals = _blank(self.text)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        self.functions = _functions(self.code)

    def offset(self, line: int) -> int:
        return self.line_starts[min(max(line, 1), len(self.line_starts)) - 1]

    def line_of(self, offset: int) -> int:
        lo, hi = 0, len(self.line_starts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1

    def enclosing(self, offset: int) -> Function | None:
        for f in self.functions:
            if f.brace < offset < f.end:
                return f
        return None

    def statement(self, offset: int) -> tuple[int, int]:
        """The statement containing `offset` (a position outside any nested bracket)."""
        code = self.code
        depth, i = 0, offset - 1
        while i >= 0:
            c = code[i]
            if c in ")]":
                depth += 1
            elif c in "([":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and c in ";{}":
                break
            i -= 1
        start = i + 1
        while start < offset and code[start].isspace():
            start += 1
        depth, j = 0, offset
        while j < len(code):
            c = code[j]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth < 0:
                    break
            elif c == ";" and depth == 0:
                j += 1
                break
            j += 1
        return start, j

    def strings_in(self, start: int, end: int) -> list[str]:
        return [self.text[a:b] for a, b in self.literals if start <= a and b <= end]

    def lines(self, start: int, end: int) -> str:
        """Whole lines from `start` to `end`, with the comment lines just above, dedented."""
        first = self.line_of(start)
        while first > 1 and self._line(first - 1).lstrip().startswith("//"):
            first -= 1
        last = self.line_of(max(end - 1, start))
        return textwrap.dedent("".join(self._line(n) for n in range(first, last + 1))).rstrip()

    def _line(self, n: int) -> str:
        a = self.line_starts[n - 1]
        b = self.line_starts[n] if n < len(self.line_starts) else len(self.text)
        text = self.text[a:b]
        return text if text.endswith("\n") else text + "\n"


@functools.lru_cache(maxsize=64)
def _read(path: Path, mtime: float) -> CppFile:
    return CppFile(path)


def read_cpp(path: Path) -> CppFile:
    return _read(path, path.stat().st_mtime)


@dataclass(frozen=True)
class RuleSource:
    file: Path  # where the rule is registered for this op
    line: int
    text: str


def rule_source(file: Path, line: int, ops: list[str], mapping: str) -> RuleSource:
    """The rule registered at `file`:`line` (which handles `ops`, lowering to `mapping`)."""
    cpp = read_cpp(file)
    at = cpp.offset(line)
    # The line holds `registry.add(...)`, or the call of a helper that passed its caller's
    # site on to Registry::add.
    end_of_line = cpp.offset(line + 1)
    call = re.compile(r"\badd\s*\(").search(cpp.code, at, end_of_line) or re.compile(
        r"\b[A-Za-z_]\w*\s*\("
    ).search(cpp.code, at, end_of_line)
    if call is None:
        note = f"// {file.name}:{line} registers no rule: the file changed since Ferry was built."
        return RuleSource(file, line, note)
    paren = call.end() - 1
    helper = cpp.enclosing(paren)
    if helper is not None and helper.registers and not helper.name.startswith("register_"):
        found = _helper_call(cpp, helper, ops, mapping)
        if found is None:
            return RuleSource(file, line, cpp.lines(helper.start, helper.end))
        call_file, call_at = found
        start, end = call_file.statement(call_at)
        pieces = [call_file.lines(start, end)]
        pieces += _named_functions(call_file, start, end, exclude=call_file.enclosing(call_at))
        return RuleSource(call_file.path, call_file.line_of(call_at), "\n\n".join(pieces))
    start, end = cpp.statement(paren)
    start = _rule_variable_start(cpp, start, end, helper)
    pieces = [cpp.lines(start, end)]
    pieces += _named_functions(cpp, start, end, exclude=helper)
    return RuleSource(file, line, "\n\n".join(pieces))


def _rule_variable_start(cpp: CppFile, start: int, end: int, within: Function | None) -> int:
    """`registry.add(std::move(conv))`: the rule is built from `Rule conv;` on."""
    m = re.search(
        r"\badd\s*\(\s*(?:std\s*::\s*move\s*\(\s*)?([A-Za-z_]\w*)\s*\)?\s*[,)]", cpp.code[start:end]
    )
    if m is None or within is None:
        return start
    decls = list(re.finditer(rf"\bRule\s+{m.group(1)}\b", cpp.code[within.brace : start]))
    if not decls:
        return start
    return cpp.statement(within.brace + decls[-1].start())[0]


def _named_functions(cpp: CppFile, start: int, end: int, exclude: Function | None) -> list[str]:
    """Definitions of the lowering functions and registration helpers a statement names."""
    out: list[str] = []
    seen: set[str] = set()
    for name in _NAMED_FUNCTION.findall(cpp.code[start:end]):
        if name in seen or (exclude is not None and name == exclude.name):
            continue
        seen.add(name)
        for where, f in _definitions(cpp, name):
            text = where.lines(f.start, f.end)
            if where is not cpp:
                text = (
                    f"// {_display(where.path, cpp.path)}, line {where.line_of(f.start)}\n" + text
                )
            out.append(text)
    return out


def _definitions(cpp: CppFile, name: str) -> list[tuple[CppFile, Function]]:
    """`name`'s definitions as a lowering function or helper: in `cpp`, else its neighbours."""

    def wanted(f: Function) -> bool:
        return f.name == name and not f.member and (f.lowers or f.registers)

    own = [(cpp, f) for f in cpp.functions if wanted(f)]
    if own:
        return own
    return [(other, f) for other in _neighbours(cpp) for f in other.functions if wanted(f)]


def _neighbours(cpp: CppFile) -> list[CppFile]:
    return [read_cpp(p) for p in sorted(cpp.path.parent.glob("*.cc")) if p != cpp.path]


def _helper_call(
    cpp: CppFile, helper: Function, ops: list[str], mapping: str
) -> tuple[CppFile, int] | None:
    """The one call of `helper` whose string literals name the rule, if there is exactly one."""
    keys = set(ops)
    for op in ops:
        stem = op.split(".")[1] if op.startswith("aten.") else op.rsplit(".", 1)[-1]
        keys.add(stem)
        if stem.endswith("_") and not stem.endswith("__"):
            keys.add(stem[:-1])
    calls: list[tuple[CppFile, int, bool]] = []  # (file, offset, names the mapping)
    pattern = re.compile(rf"(?<![\w.:>]){re.escape(helper.name)}\s*\(")
    for where in [cpp, *_neighbours(cpp)]:
        for m in pattern.finditer(where.code):
            inside = where.enclosing(m.start())
            if inside is None or (where is cpp and inside == helper):
                continue  # a declaration, or the helper calling itself
            start, end = where.statement(m.end() - 1)
            strings = where.strings_in(start, end)
            # The mapping names the TF-level op ("transpose"), which is no PyTorch name of
            # this rule even when it is spelled like one: it is matched separately.
            names = list(strings)
            if mapping in names:
                names.remove(mapping)
            if keys.intersection(names):
                calls.append((where, m.start(), mapping in strings))
    if len(calls) > 1:
        calls = [c for c in calls if c[2]]
    if len(calls) != 1:
        return None
    return calls[0][0], calls[0][1]


def _display(path: Path, relative_to: Path) -> str:
    """`path` as seen from the source tree that holds `relative_to` (cpp/lower/x.cc)."""
    for parent in relative_to.parents:
        if parent.name == "cpp":
            try:
                return str(path.relative_to(parent.parent))
            except ValueError:
                break
    return str(path)


def _blank(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` with comments, literal contents and preprocessor lines blanked (newlines kept),
    and the (start, end) of each string literal's contents."""
    out = list(text)
    literals: list[tuple[int, int]] = []

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if line_start and c == "#":
            j = i
            while True:  # a directive continues past backslash-newlines
                j = text.find("\n", j)
                if j < 0:
                    j = n
                    break
                if text[j - 1] != "\\":
                    break
                j += 1
            blank(i, j)
            i = j
            continue
        if not c.isspace():
            line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == '"' and i > 0 and text[i - 1] == "R":
            open_paren = text.find("(", i)
            delimiter = text[i + 1 : open_paren]
            close = text.find(")" + delimiter + '"', open_paren)
            close = n if close < 0 else close
            literals.append((open_paren + 1, close))
            blank(i + 1, close)
            i = close + len(delimiter) + 2
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if c == '"':
                literals.append((i + 1, j))
            blank(i + 1, j)
            i = j + 1
        else:
            i += 1
    return "".join(out), literals


def _functions(code: str) -> list[Function]:
    """Functions defined at namespace scope, found by counting brackets in blanked code."""
    out: list[Function] = []
    paren, statement, i, n = 0, 0, 0, len(code)
    while i < n:
        c = code[i]
        if c in "([":
            paren += 1
        elif c in ")]":
            paren = max(paren - 1, 0)
        elif paren == 0 and c in ";}":
            statement = i + 1
        elif paren == 0 and c == "{":
            header = code[statement:i]
            if re.match(r"\s*(inline\s+)?namespace\b", header) or re.match(
                r'\s*extern\s*"', header
            ):
                statement = i + 1  # scanning goes on inside
            else:
                close = _closing_brace(code, i)
                name = _function_name(header)
                if name is not None:
                    start = statement + len(header) - len(header.lstrip())
                    out.append(Function(name, start, i, close + 1, " ".join(header.split())))
                    statement = close + 1
                i = close + 1
                continue
        i += 1
    return out


def _closing_brace(code: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code) - 1


def _function_name(header: str) -> str | None:
    if re.match(r"\s*(template\s*<.*>\s*)?(class|struct|union|enum)\b", header, re.S):
        return None
    paren = header.find("(")
    if paren < 0:
        return None
    before = header[:paren]
    if re.search(r"(?<!operator)=", before):
        return None  # a variable initialised from a call
    m = re.search(r"(operator\s*\S+|~?[A-Za-z_]\w*)\s*$", before)
    return m.group(1) if m else None
