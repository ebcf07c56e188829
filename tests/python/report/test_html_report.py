"""The HTML report of a conversion, loaded in a headless Chromium and used as a user would:
real clicks on the tree and the filter, typing in the search, then what the DOM shows."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from headless_chromium import Chromium, find_chromium

import ferry
from ferry.report import NodeStatus, PageSummary, summarize, write_html
from ferry.report.page import CHANNELS_LAST, PYTORCH_ORDER, order_name
from ferry.report.tree import NodeInfo
from ferry.trace import trace_module

CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (apt-get install chromium, or set FERRY_CHROMIUM)"
)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardsigmoid(self.bn(self.conv(x)))


class Net(nn.Module):
    """hardsigmoid, then pooling, a linear head and softmax that read its result; a branch
    nothing returns."""

    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 4)
        self.unused = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        self.unused(self.pool(y).flatten(1))
        return self.head(self.pool(y).flatten(1)).softmax(-1)


HARDSIGMOID_LINE = next(
    line
    for line, text in enumerate(
        inspect.getsourcelines(Block.forward)[0], Block.forward.__code__.co_firstlineno
    )
    if "hardsigmoid" in text
)
THIS_FILE = os.path.abspath(__file__)


def calls(trace, op: str) -> list[int]:
    return [n.id for n in trace.nodes if n.op == op]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium binary")
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


def visible(browser: Chromium, nid: int) -> bool:
    return browser.evaluate(f"document.getElementById('n{nid}').checkVisibility()")


def listed(browser: Chromium) -> set[int]:
    ids = browser.evaluate(
        "[...document.querySelectorAll('li.node')].filter(l => l.checkVisibility()).map(l => l.id)"
    )
    return {int(i[1:]) for i in ids}


def invoked_link(browser: Chromium, nid: int) -> dict | None:
    """The Invoked row of a call's details, if it is on screen."""
    return browser.evaluate(
        f"""(() => {{
            const dts = [...document.querySelectorAll('#n{nid} > .details dt')];
            const dt = dts.find(d => d.textContent === 'Invoked');
            const a = dt && dt.nextElementSibling.querySelector('a.src');
            return a && {{href: a.getAttribute('href'), text: dt.nextElementSibling.textContent,
                          shown: a.checkVisibility()}};
        }})()"""
    )


# --- a page made from a traced model and hand-made statuses (no back end involved) ------------


def hand_made_page(tmp_path: Path):
    class Local(Net):  # named "...hand_made_page.<locals>.Local": markup in a name
        pass

    trace = trace_module(Local().eval(), [torch.rand(1, 3, 8, 8)])
    ids = {
        "conv": calls(trace, "torch.nn.functional.conv2d")[0],
        "conv_module": calls(trace, "torch.nn.modules.conv.Conv2d")[0],
        "bn": calls(trace, "torch.nn.functional.batch_norm")[0],
        "bn_module": calls(trace, "torch.nn.modules.batchnorm.BatchNorm2d")[0],
        "hardsigmoid": calls(trace, "torch.nn.functional.hardsigmoid")[0],
        "softmax": calls(trace, "torch.Tensor.softmax")[0],
    }
    pools = calls(trace, "torch.nn.functional.adaptive_avg_pool2d")
    flattens = calls(trace, "torch.Tensor.flatten")
    linears = calls(trace, "torch.nn.functional.linear")
    ids.update(unused_linear=linears[0], head=linears[1])
    info = {
        ids["conv"]: NodeInfo(NodeStatus.CONVERTED, "diff 1.2e-07", "built-in rule conv2d"),
        ids["bn"]: NodeInfo(NodeStatus.FAILED, "batch_norm: training mode", "built-in rule"),
        ids["hardsigmoid"]: NodeInfo(
            NodeStatus.INACCURATE,
            "max abs diff 0.1, max rel diff 0.3 <checked>",
            f"user converter at {THIS_FILE}:{HARDSIGMOID_LINE}",
        ),
        pools[0]: NodeInfo(NodeStatus.UNUSED),
        flattens[0]: NodeInfo(NodeStatus.UNUSED),
        linears[0]: NodeInfo(NodeStatus.UNUSED),
        pools[1]: NodeInfo(NodeStatus.CONVERTED, "diff 0"),
        flattens[1]: NodeInfo(NodeStatus.CONVERTED, "diff 0"),
        ids["head"]: NodeInfo(NodeStatus.CONVERTED, "diff 0"),
        # Read defensively: an info object with nothing but a status renders too.
        ids["softmax"]: SimpleNamespace(status=NodeStatus.CONVERTED),
    }
    hardsigmoid = trace.nodes[ids["hardsigmoid"]]
    summary = PageSummary(
        model="Net<T>",
        backend="keras",
        worst_diff=0.1,
        worst_node=ids["hardsigmoid"],
        first_divergent=ids["hardsigmoid"],
        transposes=2,
        bytes_moved=4096,
        stage_seconds=[("tracing", 0.012), ("converting", 0.0021)],
        value_orders={
            hardsigmoid.input_refs()[0].value: CHANNELS_LAST,
            hardsigmoid.output_refs()[0].value: PYTORCH_ORDER,
        },
        diffs={ids["hardsigmoid"]: (0.1, 0.3)},
        tolerance=1e-4,
    )
    path = write_html(tmp_path / "report.html", trace, info, summary)
    return trace, ids, path


@needs_browser
def test_tree_expands_and_filters_with_real_clicks(browser, tmp_path):
    trace, ids, path = hand_made_page(tmp_path)
    browser.open(Path(path).as_uri())
    assert browser.errors() == []
    # Collapsed beyond depth 2: Conv2d[block.conv] is listed, the call inside it is not;
    # BatchNorm2d[block.bn] opens because the call inside it failed.
    assert visible(browser, ids["conv_module"])
    assert not visible(browser, ids["conv"])
    assert visible(browser, ids["bn"])
    # The failing calls are on screen with their details open.
    link = invoked_link(browser, ids["hardsigmoid"])
    assert link is not None and link["shown"], link
    assert link["href"] == f"{Path(THIS_FILE).as_uri()}#L{HARDSIGMOID_LINE}"
    assert f"{THIS_FILE}:{HARDSIGMOID_LINE}" in link["text"]
    assert invoked_link(browser, ids["bn"])["shown"]

    browser.click(f"#n{ids['conv_module']} > .row > button.twisty")
    assert visible(browser, ids["conv"])
    # Details of a converted call open on a click on its name.
    details = f"document.querySelector('#n{ids['conv']} > .details')"
    assert not browser.evaluate(f"{details}.checkVisibility()")
    browser.click(f"#n{ids['conv']} > .row .title")
    assert browser.evaluate(f"{details}.checkVisibility()")
    browser.click(f"#n{ids['conv_module']} > .row > button.twisty")
    assert not visible(browser, ids["conv"])

    browser.click(".chip[data-filter='failures']")
    shown = listed(browser)
    assert ids["hardsigmoid"] in shown and ids["bn"] in shown
    assert not shown & {ids["conv"], ids["head"], ids["softmax"], ids["unused_linear"]}
    # Only the failing calls and the calls around them remain.
    around = set()
    for failing in (ids["hardsigmoid"], ids["bn"]):
        while failing >= 0:
            around.add(failing)
            failing = trace.nodes[failing].parent
    assert shown == around
    link = invoked_link(browser, ids["hardsigmoid"])
    assert link is not None and link["shown"]

    browser.click(".chip[data-filter='UNUSED']")
    shown = listed(browser)
    assert ids["unused_linear"] in shown and ids["hardsigmoid"] not in shown

    browser.click(".chip[data-filter='all']")
    browser.type("#search", "softmax")
    shown = listed(browser)
    assert ids["softmax"] in shown and ids["hardsigmoid"] not in shown and ids["conv"] not in shown
    assert browser.evaluate("document.getElementById('empty').hidden")
    browser.type("#search", " nothing like it")
    assert not browser.evaluate("document.getElementById('empty').hidden")
    assert listed(browser) == set()


@needs_browser
def test_header_link_reveals_a_collapsed_call(browser, tmp_path):
    trace, ids, path = hand_made_page(tmp_path)
    browser.open(Path(path).as_uri())
    browser.click("#collapse-all")
    assert not visible(browser, ids["hardsigmoid"])
    browser.click("header a.node-link")  # the worst difference's call
    assert visible(browser, ids["hardsigmoid"])
    assert browser.evaluate("location.hash") == f"#n{ids['hardsigmoid']}"
    facts = browser.evaluate("document.querySelector('dl.facts').innerText")
    assert "torch.nn.functional.hardsigmoid" in facts and "4.0 KB" in facts
    # Names are text: "<locals>" and "<T>" are shown, never parsed as elements.
    assert browser.evaluate("document.title") == "Ferry: Net<T>"
    assert "<locals>" in browser.evaluate(
        f"document.querySelector('#n{trace.roots[0]} .op').textContent"
    )
    assert browser.evaluate("document.querySelectorAll('locals, t, checked').length") == 0
    orders = browser.evaluate(
        f"[...document.querySelectorAll('#n{ids['hardsigmoid']} > .details td:last-child')]"
        ".map(td => td.textContent)"
    )
    assert orders == [CHANNELS_LAST, PYTORCH_ORDER]
    assert browser.errors() == []


# --- a failing conversion, end to end ---------------------------------------------------------


@pytest.fixture
def wrong_hardsigmoid():
    import tensorflow as tf

    @ferry.converter(F.hardsigmoid)
    def off_by_a_tenth(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.clip_by_value(input / 6 + 0.5, 0.0, 1.0) + 0.1

    yield off_by_a_tenth
    ferry.unregister_converter(F.hardsigmoid)


@needs_browser
def test_failing_conversion_page_shows_the_divergent_call(browser, tmp_path, wrong_hardsigmoid):
    page = tmp_path / "net.html"
    # Outputs beyond tolerance raise; the page is written all the same.
    with contextlib.suppress(ferry.ValidationError):
        ferry.pytorch_to_keras(
            Net().eval(), [torch.rand(1, 3, 16, 16)], save_trace_html=str(page), verbose=False
        )
    assert page.is_file()
    browser.open(page.as_uri())
    assert browser.errors() == []
    header = browser.evaluate("document.querySelector('header').innerText")
    assert re.search(r"First divergent call\s+torch\.nn\.functional\.hardsigmoid", header), header
    assert "Keras 3" in header
    states = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('li.node')]"
        ".map(l => [l.id, l.dataset.status]))"
    )
    failing = [int(i[1:]) for i, s in states.items() if s == "INACCURATE"]
    converted = [int(i[1:]) for i, s in states.items() if s == "CONVERTED"]
    assert len(failing) == 1 and converted, states
    hardsigmoid = failing[0]

    browser.click(".chip[data-filter='failures']")
    shown = listed(browser)
    assert hardsigmoid in shown and not shown & set(converted)
    link = invoked_link(browser, hardsigmoid)
    assert link is not None and link["shown"]
    assert link["href"] == f"{Path(THIS_FILE).as_uri()}#L{HARDSIGMOID_LINE}"
    message = browser.evaluate(f"document.querySelector('#n{hardsigmoid} > .row .msg').textContent")
    assert "0.1" in message


# --- the file itself --------------------------------------------------------------------------


def test_page_is_self_contained_and_written_atomically(tmp_path):
    trace, ids, path = hand_made_page(tmp_path)
    assert path == str(tmp_path / "report.html")
    assert os.listdir(tmp_path) == ["report.html"]  # no temporary left beside it
    page = Path(path).read_text(encoding="utf-8")
    assert not re.search(r"<link|<img|<iframe|\ssrc\s*=|@import|url\(", page, re.IGNORECASE)
    hrefs = re.findall(r"href='([^']*)'", page)
    assert hrefs and all(h.startswith(("#n", "file:///")) for h in hrefs), hrefs
    assert "<checked>" not in page and "&lt;checked&gt;" in page
    # The style and the script are inlined as they are: nothing in them may end their element.
    assets = resources.files("ferry.report") / "assets"
    for name in ("report.css", "report.js"):
        assert "</" not in (assets / name).read_text(encoding="utf-8")


def test_page_from_partial_information(tmp_path):
    """A conversion that stopped before validation: only a model name and statuses."""
    trace = trace_module(Net().eval(), [torch.rand(1, 3, 8, 8)])
    info = {calls(trace, "torch.nn.functional.hardsigmoid")[0]: NodeInfo(NodeStatus.UNSUPPORTED)}
    summary = summarize("Net", trace, info)
    assert summary.counts == {NodeStatus.UNSUPPORTED: 1}
    assert summary.worst_diff is None and summary.first_divergent is None
    path = write_html(tmp_path / "partial.html", trace, info, summary)
    page = Path(path).read_text(encoding="utf-8")
    assert "Worst difference" not in page and "no converter" in page
    # A bare name is enough.
    path = write_html(tmp_path / "named.html", trace, info, "Net")
    assert "<title>Ferry: Net</title>" in Path(path).read_text(encoding="utf-8")


def test_order_names():
    assert order_name([0, 1, 2, 3]) == PYTORCH_ORDER
    assert order_name([0, 2, 3, 1]) == CHANNELS_LAST
    assert order_name([0, 2, 1]) == CHANNELS_LAST
    assert order_name([1, 0]) == "TensorFlow (axes 1, 0)"


class Bessel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(self.conv(x))


@needs_browser
def test_page_of_a_conversion_that_stopped(browser, tmp_path):
    """No converter for i0: the .tflite conversion stops before anything is validated, and the
    page says what it knows."""
    page = tmp_path / "bessel.html"
    with pytest.raises(ferry.UnsupportedOpsError):
        ferry.pytorch_to_tflite(
            Bessel().eval(), [torch.rand(1, 3, 8, 8)], save_trace_html=str(page), verbose=False
        )
    browser.open(page.as_uri())
    assert browser.errors() == []
    header = browser.evaluate("document.querySelector('header').innerText")
    assert "TFLite" in header and "Worst difference" not in header
    assert "Transposes" not in header  # nothing was laid out
    browser.click(".chip[data-filter='failures']")
    shown = browser.evaluate(
        "[...document.querySelectorAll('li.node')].filter(l => l.checkVisibility())"
        ".map(l => [l.dataset.status, l.querySelector('.op').textContent])"
    )
    unsupported = [op for status, op in shown if status == "UNSUPPORTED"]
    assert unsupported and all("i0" in op for op in unsupported), shown
    assert not [op for status, op in shown if status == "CONVERTED"]
