"""`ferry.locate_converter`: nobuco's knowledge-base lookup, for user converters and rules."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import ferry
from ferry import _core
from ferry.locate import ConverterNotFoundError

_LOCATION = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)(?: \((?P<relative>[^)]+)\))?$')


def _site(location: str) -> tuple[Path, int, str | None]:
    m = _LOCATION.match(location)
    assert m is not None, location
    return Path(m["file"]), int(m["line"]), m["relative"]


def _run_readme_snippet(node) -> str:
    """nobuco's README section "Nobuco knowledge base", as written there."""
    import ferry as nobuco

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        location_link, source_code = nobuco.locate_converter(node)
        print("Converter location:")
        print(location_link)
        print("Converter source code:")
        print(source_code)
    return out.getvalue()


def _has_any_rule(name: str, aten_stem: str) -> bool:
    return _core.has_rule(name) or any(
        op.startswith(f"aten.{aten_stem}.") for op, _ in _core.rules()
    )


@pytest.mark.parametrize(
    ("node", "op", "needle"),
    [
        (F.relu_, "torch.nn.functional.relu_", '"relu"'),
        (nn.LSTM, "torch.nn.modules.rnn.LSTM", "torch.nn.modules.rnn.LSTM"),
        (torch.Tensor.repeat, "torch.Tensor.repeat", "repeat"),
    ],
)
def test_readme_snippet_locates_the_rule(node, op, needle):
    if not _has_any_rule(op, op.rsplit(".", 1)[-1]):
        # No rule at any level (yet): the snippet stops with the clear error instead.
        with pytest.raises(LookupError, match=rf"{re.escape(op)}.*`ferry ops repeat`"):
            _run_readme_snippet(node)
        return
    printed = _run_readme_snippet(node)
    location, source = ferry.locate_converter(node)
    assert f"Converter location:\n{location}\n" in printed
    file, line, relative = _site(location)
    assert file.is_absolute() and file.is_file()
    assert relative is not None and file.as_posix().endswith(relative)
    assert relative.startswith("cpp/lower/")
    lines = file.read_text().splitlines()
    assert 1 <= line <= len(lines)
    # The location is the registration itself; the source starts with that statement.
    assert lines[line - 1].strip() in source
    assert needle in source


def test_relu_shows_the_registration_and_the_helper_that_builds_it():
    location, source = ferry.locate_converter(F.relu_)
    file, line, relative = _site(location)
    assert relative == "cpp/lower/activation.cc"
    assert file.read_text().splitlines()[line - 1].strip() == 'add_unary(registry, "relu", "relu");'
    assert source.startswith('add_unary(registry, "relu", "relu");')
    assert "// cpp/lower/helpers.cc, line " in source
    assert "void add_unary(Registry& registry" in source and "registry.add(" in source


def test_lstm_source_has_the_lowering_function_it_calls():
    _, source = ferry.locate_converter(nn.LSTM)
    assert source.startswith('registry.add({{"torch.nn.modules.rnn.LSTM"}')
    assert "lower_rnn(ctx, kLstm)" in source
    assert "void lower_rnn(LowerContext& ctx" in source
    assert "torch.nn.modules.rnn.GRU" not in source  # the neighbouring rule is not included


def test_a_rule_built_in_a_variable_is_shown_from_its_declaration():
    _, source = ferry.locate_converter(F.gelu)
    assert source.startswith("Rule gelu;")
    assert 'gelu.mapping = "gelu";' in source
    assert source.rstrip().endswith("registry.add(std::move(gelu));")


def test_every_name_of_a_rule_leads_to_the_same_place():
    first = ferry.locate_converter(F.relu_)
    for op in (torch.relu, torch.Tensor.relu_, "aten.relu.default", nn.ReLU()):
        location, _ = ferry.locate_converter(op)
        assert location == first.location, op


def test_a_module_without_a_rule_points_at_the_calls_in_its_forward():
    location, source = ferry.locate_converter(nn.Conv2d)
    assert "torch.nn.modules.conv.Conv2d has no rule of its own" in source
    assert "torch.nn.functional.conv2d" in source
    assert "void lower_conv(LowerContext& ctx)" in source
    assert _site(location)[2] == "cpp/lower/conv.cc"


def test_an_aten_overload_packet_resolves_to_its_overloads():
    _, source = ferry.locate_converter(torch.ops.aten.relu)
    assert "converted through its aten ops: aten.relu.default" in source


def test_a_user_converter_wins_and_is_located_at_its_def_line():
    @ferry.converter(F.gelu, channel_ordering_strategy=ferry.ChannelOrderingStrategy.MANUAL)
    def my_gelu_converter(input, approximate="none"):
        return lambda input, approximate="none": input

    try:
        for op in (F.gelu, "torch.nn.functional.gelu"):
            location, source = ferry.locate_converter(op)
            file, line, _ = _site(location)
            assert file == Path(__file__).resolve()
            assert (
                file.read_text().splitlines()[line - 1].strip().startswith("def my_gelu_converter(")
            )
            assert source.startswith("@ferry.converter(F.gelu")
            assert 'return lambda input, approximate="none": input' in source
    finally:
        ferry.unregister_converter(F.gelu)
    assert _site(ferry.locate_converter(F.gelu).location)[2] == "cpp/lower/activation.cc"


def test_a_user_converter_for_a_base_class_covers_its_subclasses():
    class Base(nn.Module):
        pass

    class Child(Base):
        pass

    @ferry.converter(Base)
    def convert_base(self, x):
        return lambda x: x

    try:
        location, source = ferry.locate_converter(Child)
        assert "def convert_base(self, x):" in source
        assert _site(location)[0] == Path(__file__).resolve()
    finally:
        ferry.unregister_converter(Base)


@pytest.mark.parametrize(
    ("op", "name", "hint"),
    [
        (torch.special.i0, "torch.special.i0", "`ferry ops i0`"),
        ("aten.no_such_op.default", "aten.no_such_op.default", "`ferry ops no_such_op`"),
        (nn.Sequential, "torch.nn.modules.container.Sequential", "`ferry ops Sequential`"),
    ],
)
def test_an_op_nothing_converts_gives_a_clear_error(op, name, hint):
    with pytest.raises(ConverterNotFoundError) as info:
        ferry.locate_converter(op)
    assert isinstance(info.value, LookupError)
    message = str(info.value)
    assert message.startswith(f"ferry: nothing converts {name}:")
    assert hint in message


def test_without_the_cpp_sources_it_says_source_not_available(monkeypatch):
    import ferry.locate

    monkeypatch.setattr(ferry.locate, "_source_file", lambda compiled, relative: None)
    location, source = ferry.locate_converter(nn.LSTM)
    assert location.startswith("cpp/lower/rnn.cc, line ")
    assert "source not available" in location
    assert source.startswith("source not available: cpp/lower/rnn.cc")


_DEMO_CC = """\
namespace ferry {
namespace {

// Doubles; a brace in a string must not end the function: "}".
void lower_double(LowerContext& ctx) {
  ctx.emit_output("mul", {ctx.in("input"), ctx.scalar(2.0, DType::kFloat32)});
}

void add_named(Registry& registry, const std::string& name, const std::string& tf_op) {
  registry.add({{"torch." + name}, [tf_op](LowerContext& ctx) { /* } */ }, tf_op});
}

}  // namespace

void register_demo_rules(Registry& registry) {
  registry.add({{"torch.double"}, lower_double, "mul"});
  add_named(registry, "first", "same");
  add_named(registry, "second", "same");
}

}  // namespace ferry
"""


def test_rule_source_reads_statements_functions_and_helper_calls(tmp_path):
    from ferry.rule_source import rule_source

    demo = tmp_path / "cpp" / "lower" / "demo.cc"
    demo.parent.mkdir(parents=True)
    demo.write_text(_DEMO_CC)
    lines = _DEMO_CC.splitlines()
    direct = lines.index('  registry.add({{"torch.double"}, lower_double, "mul"});') + 1
    helper = (
        lines.index(
            '  registry.add({{"torch." + name}, [tf_op](LowerContext& ctx) { /* } */ }, tf_op});'
        )
        + 1
    )

    found = rule_source(demo, direct, ["torch.double"], "mul")
    assert (found.file, found.line) == (demo, direct)
    assert found.text.startswith('registry.add({{"torch.double"}, lower_double, "mul"});\n\n')
    assert found.text.endswith(
        '  ctx.emit_output("mul", {ctx.in("input"), ctx.scalar(2.0, DType::kFloat32)});\n}'
    )
    assert "// Doubles; a brace in a string" in found.text

    # Registered inside a helper: traced back to the one call that names the op.
    found = rule_source(demo, helper, ["torch.second"], "same")
    assert found.line == lines.index('  add_named(registry, "second", "same");') + 1
    assert found.text.startswith('add_named(registry, "second", "same");\n\nvoid add_named(')

    # A helper that passes its caller's site on to Registry::add: the site is the call.
    first = lines.index('  add_named(registry, "first", "same");') + 1
    found = rule_source(demo, first, ["torch.first"], "same")
    assert found.line == first
    assert found.text.startswith('add_named(registry, "first", "same");\n\nvoid add_named(')

    # No single call names it: the helper itself is shown.
    found = rule_source(demo, helper, ["torch.third"], "same")
    assert found.line == helper
    assert found.text.startswith("void add_named(Registry& registry")
