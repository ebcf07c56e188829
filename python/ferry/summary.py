"""What the channel-order solver did, in numbers a user can compare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayoutSummary:
    transposes: int  # TRANSPOSE ops in the converted graph
    bytes_moved: int  # bytes they move per inference
    node_by_node_transposes: int  # the same graph with order decided node by node
    node_by_node_bytes: int
    all_pytorch_bytes: int  # ... and with every tensor kept in PyTorch order
    choices: int  # free order decisions the solver made
    exact: bool  # the minimum is proven (min-cut or enumeration)
    method: str

    @classmethod
    def from_core(cls, result: Any) -> LayoutSummary:
        layout = result.layout
        return cls(
            transposes=result.transposes[0],
            bytes_moved=result.transposes[1],
            node_by_node_transposes=result.transposes_node_by_node[0],
            node_by_node_bytes=result.transposes_node_by_node[1],
            all_pytorch_bytes=int(layout.get("all_pytorch_cost", 0)),
            choices=int(layout.get("variables", 0)),
            exact=bool(layout.get("exact", True)),
            method=str(layout.get("method", "")),
        )

    def __str__(self) -> str:
        return (
            f"{self.transposes} transpose(s), {self.bytes_moved} bytes moved per inference "
            f"(node by node: {self.node_by_node_transposes}, {self.node_by_node_bytes} bytes; "
            f"all in PyTorch order: {self.all_pytorch_bytes} bytes); order solved by {self.method}"
            f" over {self.choices} choices"
        )
