"""The peer converters' virtual environments: what each installs, and building them once.

Every peer gets its own environment under the cache folder (nothing goes into the project's
`.venv`), because their pins exclude each other: nobuco needs Keras 2 (TensorFlow 2.15),
onnx2tf pins TensorFlow 2.19, LiteRT Torch brings its own converter and runtime. Each one
installs torch first, from the same pin as the project, and then the packages that depend on
torch with `--no-deps`, so that nothing replaces the CPU build of torch. An environment is
rebuilt when its recipe changes (the recipe's hash is stored beside it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def project_pin(name: str) -> str:
    """`name==version` as the project's constraints file pins it."""
    for line in CONSTRAINTS.read_text().splitlines():
        spec = line.split("#")[0].strip()
        if spec.lower().startswith(f"{name.lower()}=="):
            return spec
    raise KeyError(f"{CONSTRAINTS.name} has no exact pin for {name}")


# torchvision's and transformers' own dependencies (none of them depends on torch).
MODEL_LIBRARY_DEPS = [
    "pillow",
    "regex",
    "safetensors",
    "tokenizers",
    "huggingface_hub",
    "PyYAML",
    "typer",
]


@dataclass(frozen=True)
class Recipe:
    """pip steps, in order; each step is one `pip install` command line (arguments only)."""

    name: str
    steps: list[list[str]] = field(default_factory=list)

    def digest(self) -> str:
        text = json.dumps([self.name, self.steps, sys.version_info[:2]])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipes() -> dict[str, Recipe]:
    torch = project_pin("torch")
    torchvision = project_pin("torchvision")
    transformers = project_pin("transformers")
    common_tail = [
        ["--no-deps", torchvision, transformers],
        MODEL_LIBRARY_DEPS,
    ]
    return {
        "nobuco": Recipe(
            "nobuco",
            [
                [torch],
                # Keras 2 is built into TensorFlow 2.15; nobuco imports the `keras` package.
                ["tensorflow==2.15.1", "numpy==1.26.4", "protobuf>=4.25,<4.26"],
                ["--no-deps", "nobuco==0.17.0"],
                # nobuco's own light dependencies (its metadata also names torch).
                ["sty", "tqdm", "rich", "numpy==1.26.4"],
                *common_tail,
            ],
        ),
        "litert_torch": Recipe(
            "litert_torch",
            [
                [torch],
                # It declares torch<2.15, which the pin satisfies; the constraint keeps pip from
                # choosing another build.
                ["litert-torch==0.10.0", torch, torchvision],
                *common_tail,
            ],
        ),
        "onnx2tf": Recipe(
            "onnx2tf",
            [
                [torch],
                # onnx2tf 2.x needs Python 3.12: 1.29.24 is the newest for 3.11, with its pins.
                [
                    "onnx2tf==1.29.24",
                    "tensorflow==2.19.0",
                    "tf-keras==2.19.0",
                    "ai-edge-litert==2.1.0",
                    "onnx==1.19.1",
                    "onnxruntime==1.23.0",
                    "onnxsim==0.4.36",
                    "onnx-graphsurgeon==0.5.8",
                    "sng4onnx==2.0.1",
                    "psutil==5.9.5",
                    "numpy==1.26.4",
                    "onnxscript",
                ],
                *common_tail,
            ],
        ),
    }


def cache_dir(explicit: str | None = None) -> Path:
    base = explicit or os.environ.get("FERRY_PEERS_CACHE")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "ferry" / "peers"


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure(recipe: Recipe, cache: Path, log=print) -> Path:
    """The environment's folder, built first if it is missing or was built from another recipe.
    A failed build leaves no environment marked ready; its pip log stays beside it."""
    venv = cache / "venvs" / recipe.name
    marker = venv / "ferry-recipe.json"
    if marker.exists() and json.loads(marker.read_text()).get("digest") == recipe.digest():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    log(f"building the {recipe.name} environment (first use; several minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    logfile = venv / "pip.log"
    pip = [str(python_of(venv)), "-m", "pip", "install", "--quiet"]
    with logfile.open("w") as out:
        subprocess.run([*pip, "--upgrade", "pip"], check=True, stdout=out, stderr=out)
        for step in recipe.steps:
            out.write(f"\n$ pip install {' '.join(step)}\n")
            out.flush()
            done = subprocess.run([*pip, *step], stdout=out, stderr=out)
            if done.returncode != 0:
                raise RuntimeError(
                    f"building the {recipe.name} environment failed at `pip install "
                    f"{' '.join(step)}`; see {logfile}"
                )
    seconds = time.monotonic() - start
    marker.write_text(json.dumps({"digest": recipe.digest(), "seconds": round(seconds, 1)}))
    log(f"built the {recipe.name} environment in {seconds / 60:.1f} min")
    return venv


def build_seconds(venv: Path) -> float | None:
    marker = venv / "ferry-recipe.json"
    if not marker.exists():
        return None
    return json.loads(marker.read_text()).get("seconds")


if __name__ == "__main__":
    cache = cache_dir(sys.argv[1] if len(sys.argv) > 1 else None)
    for recipe in recipes().values():
        ensure(recipe, cache)
