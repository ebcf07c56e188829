"""Ferry beside the converters users would pick instead, measured in one run.

    python bench/peers/run.py [--quick] [--models a,b [--update]] [--tools a,b] [--runs 30]
                              [--threads 1,2] [--cache DIR] [--timeout S] [--resume RUN_DIR]
                              [--no-docs]

Run from the repository root with the project's environment (README set-up). The first run
builds each peer's virtual environment under the cache folder (`--cache`, else
$FERRY_PEERS_CACHE, else ~/.cache/ferry/peers); later runs reuse them.

Steps: draw each model's random weights and two inputs (one to trace, one to check) in this
environment; convert every model with every tool, each conversion a fresh process in the
tool's environment (bench/peers/convert.py); time all files of a model in one LiteRT process,
interleaved (bench/peers/measure.py); write the "peers" section of docs/benchmarks.md, a chart
(docs/peers.png) and the results (docs/peers.json), and print the table. With --update, the
named models are measured again and replace their rows in docs/peers.json; the others keep
theirs (each row says when and under what load it was measured). --resume continues an
interrupted run in its folder: conversions that finished are kept, and a model's timing is kept
once all of its files were timed together.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import models  # noqa: E402
import stats  # noqa: E402
import venvs  # noqa: E402
from machine import cpu_name  # noqa: E402
from page import chart, page  # noqa: E402

TOOLS = list(stats.TOOLS)
PEER_ENV = {"nobuco": "nobuco", "litert_torch": "litert_torch", "onnx2tf": "onnx2tf"}
DOC_JSON = ROOT / "docs" / "peers.json"


def log(message: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {message}", flush=True)


def worker_env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)  # a peer's environment sees only its own packages
    return env


def run_worker(
    python: Path | str, args: list[str], log_path: Path, timeout: float
) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [str(python), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=worker_env(),
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        result = {"status": "FAIL", "reason": f"did not finish within {timeout:.0f} s"}
        log_path.write_text("RESULT " + json.dumps(result) + "\n")  # a resumed run keeps it
        return result
    log_path.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    try:
        result = stats.parse_result(done.stdout)
    except ValueError:
        result = {"status": "FAIL", "reason": stats.failure_reason(done.stderr, done.returncode)}
    result["wall_s"] = time.perf_counter() - start
    return result


def finished(log_path: Path, file: Path) -> dict[str, Any] | None:
    """The result of a conversion an earlier pass of this run completed: a file that is still
    there, or a failure (a timeout included; a conversion that was stopped left no log and
    runs again)."""
    if not log_path.exists():
        return None
    try:
        result = stats.parse_result(log_path.read_text())
    except ValueError:
        return None
    if result.get("status") == "ok" and not file.exists():
        return None
    return result


def applicable(tool: str, name: str) -> bool:
    return tool != "keras_floor" or bool(models.spec(name).keras_floor)


def prepare(names: list[str], run: Path) -> None:
    (run / "weights").mkdir(parents=True, exist_ok=True)
    (run / "inputs").mkdir(parents=True, exist_ok=True)
    for name in names:
        if (run / "inputs" / f"{name}.check.npz").exists():
            continue  # a resumed run keeps the weights its files were converted from
        models.draw(name, run / "weights" / f"{name}.pt")
        for kind, seed in (("trace", 1), ("check", 2)):
            xs = [x.numpy() for x in models.inputs(name, seed)]
            np.savez(run / "inputs" / f"{name}.{kind}.npz", *xs)


def versions() -> str:
    names = ["torch", "tensorflow", "ai-edge-litert"]
    return ", ".join(f"{n} {importlib.metadata.version(n)}" for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two models, 10 runs")
    parser.add_argument("--models", help="comma-separated; default: all")
    parser.add_argument("--tools", help=f"comma-separated of {','.join(TOOLS)}")
    parser.add_argument("--runs", type=int, help="timed invokes per file (default 30)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--cache", help="folder of the peer environments and runs")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument(
        "--update", action="store_true", help="replace only these models' rows in docs/peers.json"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds one conversion may take (3600)"
    )
    parser.add_argument("--resume", type=Path, help="continue the run in this folder")
    args = parser.parse_args()
    names = (
        args.models.split(",")
        if args.models
        else (models.QUICK if args.quick else [s.name for s in models.SPECS])
    )
    for name in names:
        models.spec(name)  # unknown names stop here, before anything is built
    tools = args.tools.split(",") if args.tools else TOOLS
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise SystemExit(f"unknown tools {unknown}; known: {', '.join(TOOLS)}")
    runs = args.runs or (10 if args.quick else 30)
    threads = [int(t) for t in args.threads.split(",")]
    cache = venvs.cache_dir(args.cache)
    run = args.resume or cache / "runs" / time.strftime("%Y%m%d-%H%M%S")
    (run / "logs").mkdir(parents=True, exist_ok=True)
    log(f"run folder: {run}")

    pythons: dict[str, Path | str] = {t: sys.executable for t in tools if t not in PEER_ENV}
    notes: list[str] = []
    recipes = venvs.recipes()
    for tool in tools:
        if tool in PEER_ENV:
            try:
                venv = venvs.ensure(recipes[PEER_ENV[tool]], cache, log)
                pythons[tool] = venvs.python_of(venv)
                built = venvs.build_seconds(venv)
                if built:
                    notes.append(f"The {tool} environment took {built / 60:.1f} min to build.")
            except (RuntimeError, OSError) as error:
                log(f"{tool}: {error}")
                pythons[tool] = ""
                notes.append(f"{tool}: its environment could not be built ({error}).")

    log("drawing weights and inputs")
    prepare(names, run)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    timing: dict[str, dict[str, Any]] = {}
    for name in names:
        results[name] = {}
        for tool in tools:
            if not applicable(tool, name):
                continue
            if not pythons[tool]:
                results[name][tool] = {"status": "FAIL", "reason": "environment not built"}
                continue
            log_path = run / "logs" / f"{name}.{tool}.convert.log"
            result = finished(log_path, run / "files" / f"{name}.{tool}.tflite")
            if result:
                log(f"{name}: kept the finished conversion with {tool} ({result['status']})")
            else:
                log(f"{name}: converting with {tool}")
                result = run_worker(
                    pythons[tool],
                    [str(HERE / "convert.py"), tool, name, str(run)],
                    log_path,
                    args.timeout,
                )
            results[name][tool] = result
            if result["status"] != "ok":
                log(f"{name}: {tool} failed: {result.get('reason')}")
        ok = [t for t, r in results[name].items() if r["status"] == "ok"]
        if not ok:
            continue
        timing_path = run / "logs" / f"{name}.timing.json"
        kept = json.loads(timing_path.read_text()) if timing_path.exists() else {}
        if kept.get("tools") == ok and kept.get("runs") == runs:
            log(f"{name}: kept the timing of {', '.join(ok)}")
            for tool, entry in kept["measured"].items():
                results[name][tool].update(entry)
            timing[name] = kept["timing"]
            continue
        log(f"{name}: timing {', '.join(ok)}")
        load_before = os.getloadavg()[0]
        measured = run_worker(
            sys.executable,
            [
                str(HERE / "measure.py"),
                name,
                str(run),
                "--tools",
                ",".join(ok),
                "--runs",
                str(runs),
                "--threads",
                args.threads,
            ],
            run / "logs" / f"{name}.measure.log",
            args.timeout,
        )
        if measured.get("status") == "FAIL":
            for tool in ok:
                results[name][tool].update(status="FAIL", reason=f"timing: {measured['reason']}")
            continue
        for tool, entry in measured["tools"].items():
            results[name][tool].update(entry)
        timing[name] = {
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "runs": runs,
            "load": [load_before, os.getloadavg()[0]],
        }
        timing_path.write_text(
            json.dumps(
                {"tools": ok, "runs": runs, "measured": measured["tools"], "timing": timing[name]}
            )
        )
    doc = {"models": {}, "timing": {}}
    if args.update and DOC_JSON.exists():
        doc = json.loads(DOC_JSON.read_text())
    doc["models"].update(results)
    doc["timing"].update(timing)
    doc["models"] = {s.name: doc["models"][s.name] for s in models.SPECS if s.name in doc["models"]}
    doc["timing"] = {n: doc["timing"][n] for n in doc["models"] if n in doc["timing"]}
    doc["meta"] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "versions": versions(),
        "notes": notes or doc.get("meta", {}).get("notes", []),
        "threads": threads,
        "models": [s.name for s in models.SPECS],
    }
    stats.with_ratios(doc["models"], threads)
    (run / "results.json").write_text(json.dumps(results, indent=1))
    text = page(doc, threads)
    print(text)
    if not args.no_docs:
        from sections import write_section

        os.chdir(ROOT)
        DOC_JSON.write_text(json.dumps(doc, indent=1) + "\n")
        write_section("peers", text)
        chart(doc["models"], ROOT / "docs" / "peers.png", threads[0])
        log("wrote docs/benchmarks.md (peers), docs/peers.json and docs/peers.png")


if __name__ == "__main__":
    main()
