"""The factorised (Kronecker-structured) random projection of per-example gradients.

For a linear layer with output-side dimension ``d_out`` and input-side dimension ``d_in`` (bias
folded in as an extra input that is always 1), a per-example gradient ``G = Σ_t δ_t a_tᵀ`` is
projected to ``R_outᵀ G R_in`` (``k_out × k_in``), i.e. a dense projection of ``vec(G)`` by the
matrix ``kron(R_out, R_in)``. The fast featuriser computes it from ``R_outᵀ δ_t`` and ``R_inᵀ a_t``
without ever forming ``G``; the exact reference forms ``G`` and multiplies by ``kron`` explicitly.
Both take their matrices from here, so "same projection" is true by construction (method.md §3).

Orientation: every layer is described in ``(out, in)`` orientation, i.e. like ``nn.Linear.weight``.
GPT-2's ``Conv1D`` stores ``(in, out)``; the tied token embedding shares the LM head's ``(V, d)``
matrix, where it uses the V side as input (one-hot tokens) and the d side as output.
Entries are N(0, 1/k_side) so ``E‖Rᵀg‖² = ‖g‖²`` (norms preserved in expectation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


@dataclass(frozen=True)
class LayerSpec:
    """One projected layer: where it lives and how its gradient block is shaped."""

    module: str  # module name, e.g. "transformer.h.0.attn.c_attn" or "lm_head"
    kind: str  # "conv1d" | "linear"
    weight: str  # canonical parameter name (tied weights: the name named_parameters() keeps)
    bias: str | None  # bias parameter name, folded in as the last input row
    d_in: int  # input-side size including the bias row
    d_out: int
    k_in: int
    k_out: int
    tied_embedding: str | None = None  # nn.Embedding sharing this weight (its grad adds in)

    @property
    def k(self) -> int:
        return self.k_in * self.k_out


def find_layers(model: nn.Module, layers: str = "all") -> list[tuple[str, str, nn.Module]]:
    """The Conv1D / nn.Linear modules to project, in forward order: (name, kind, module).

    `layers`: ``all``; ``blocks`` (the attention and MLP projections of the transformer blocks,
    without the LM head); ``last:N`` (those of the last N blocks)."""
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, Conv1D):
            out.append((name, "conv1d", mod))
        elif isinstance(mod, nn.Linear):
            out.append((name, "linear", mod))
    if layers == "all":
        return out
    blocks, n_blocks = block_index(model, [n for n, _, _ in out])
    first = 0
    if layers.startswith("last:"):
        first = n_blocks - int(layers.split(":", 1)[1])
    elif layers != "blocks":
        raise ValueError(f"unknown layer choice {layers!r}; known: all, blocks, last:N")
    chosen = [entry for entry in out if blocks.get(entry[0], -1) >= max(first, 0)]
    if not chosen:
        raise ValueError(f"--layers {layers}: the model has no projections in its blocks")
    return chosen


def block_index(model: nn.Module, names: list[str]) -> tuple[dict[str, int], int]:
    """Which transformer block each named layer belongs to, and the number of blocks.

    The blocks are the `nn.ModuleList` holding the most of `names` (GPT-2's ``transformer.h``,
    Llama's ``model.layers``); layers outside it (the LM head) get no entry."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and n]
    best, best_count = None, 0
    for lname, mods in lists:
        count = sum(1 for n in names if n.startswith(lname + "."))
        if count > best_count:
            best, best_count = (lname, len(mods)), count
    if best is None:
        raise ValueError("cannot find the model's transformer blocks (no nn.ModuleList of layers)")
    lname, n_blocks = best
    prefix = lname + "."
    found = {n: int(n[len(prefix) :].split(".", 1)[0]) for n in names if n.startswith(prefix)}
    return found, n_blocks


def allocate_dims(k: int, n_layers: int) -> list[tuple[int, int]]:
    """Split a budget of k projected dims over layers as near-square (k_out, k_in) blocks.

    Every layer gets an s × s block with ``s = floor(sqrt(k / n_layers))``; the remainder widens
    blocks to s × (s+1), then (s+1) × (s+1), ... in layer order. Square blocks matter: the
    Kronecker JL error grows like 1/k_out + 1/k_in, and a thin side is noisy (measured: k_out 16
    -> 32 at the same k_in raised seed-to-seed Spearman from 0.72 to 0.93, bench/featurize.py).
    The total is k minus a remainder smaller than s (reported as the featuriser's k).
    """
    if k < n_layers:
        raise ValueError(f"k={k} must be at least the number of projected layers ({n_layers})")
    s = int(math.isqrt(k // n_layers))
    dims = [[s, s] for _ in range(n_layers)]
    left = k - n_layers * s * s
    grown = True
    while grown:  # grow the smaller side of each block in turn while the budget allows
        grown = False
        for d in dims:
            side = 1 if d[1] <= d[0] else 0  # widen k_in first, then k_out
            cost = d[1 - side]
            if cost <= left:
                d[side] += 1
                left -= cost
                grown = True
    return [(a, b) for a, b in dims]


def layer_specs(model: nn.Module, k: int, layers: str = "all") -> list[LayerSpec]:
    """The projected layers of `model` with their share of the k feature dimensions."""
    found = find_layers(model, layers)
    canonical = {id(p): n for n, p in model.named_parameters()}
    embeddings = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Embedding)]
    specs = []
    for (name, kind, mod), (k_out, k_in) in zip(found, allocate_dims(k, len(found)), strict=True):
        has_bias = getattr(mod, "bias", None) is not None
        if kind == "conv1d":
            d_in, d_out = mod.weight.shape  # Conv1D stores (in, out)
        else:
            d_out, d_in = mod.weight.shape
        tied = next((n for n, e in embeddings if e.weight is mod.weight), None)
        specs.append(
            LayerSpec(
                module=name,
                kind=kind,
                weight=canonical[id(mod.weight)],
                bias=canonical[id(mod.bias)] if has_bias else None,
                d_in=d_in + int(has_bias),
                d_out=d_out,
                k_in=k_in,
                k_out=k_out,
                tied_embedding=tied,
            )
        )
    return specs


class KroneckerProjection:
    """Seeded per-layer matrices R_in (d_in × k_in) and R_out (d_out × k_out)."""

    def __init__(self, specs: list[LayerSpec], seed: int, device: str | torch.device = "cpu"):
        self.specs = specs
        self.seed = seed
        self.r_in: list[torch.Tensor] = []
        self.r_out: list[torch.Tensor] = []
        for i, s in enumerate(specs):
            # Drawn on CPU from a per-(seed, layer) generator: identical on every device.
            g = torch.Generator().manual_seed(_layer_seed(seed, i))
            r_in = torch.randn(s.d_in, s.k_in, generator=g) / math.sqrt(s.k_in)
            r_out = torch.randn(s.d_out, s.k_out, generator=g) / math.sqrt(s.k_out)
            self.r_in.append(r_in.to(device))
            self.r_out.append(r_out.to(device))

    @classmethod
    def for_model(
        cls, model: nn.Module, k: int, seed: int, layers: str = "all"
    ) -> KroneckerProjection:
        device = next(model.parameters()).device
        return cls(layer_specs(model, k, layers), seed, device)

    @property
    def k(self) -> int:
        return sum(s.k for s in self.specs)

    def precondition(self, whiten: list | None) -> KroneckerProjection:
        """Fold per-layer (A^{-1/2}, S^{-1/2}) into the matrices: ``R_in ← A^{-1/2} R_in``,
        ``R_out ← S^{-1/2} R_out`` (K-FAC whitening, `kfac.py`); None entries stay as drawn."""
        for i, w in enumerate(whiten or []):
            if w is None:
                continue
            a, s = (torch.as_tensor(m, dtype=self.r_in[i].dtype) for m in w)
            self.r_in[i] = a.to(self.r_in[i].device) @ self.r_in[i]
            self.r_out[i] = s.to(self.r_out[i].device) @ self.r_out[i]
        return self

    def dense(self, i: int) -> torch.Tensor:
        """The dense matrix of layer i: (d_out·d_in, k_out·k_in), rows in row-major vec(G) order."""
        return torch.kron(self.r_out[i], self.r_in[i])

    def project_dense(self, i: int, grad: torch.Tensor) -> torch.Tensor:
        """Dense projection of per-example layer gradients. grad (B, d_out, d_in) -> (B, k_l)."""
        return grad.reshape(grad.shape[0], -1) @ self.dense(i)

    def project_structured(self, i: int, grad: torch.Tensor) -> torch.Tensor:
        """Same result as `project_dense` via R_outᵀ G R_in (for layers too big to densify)."""
        # (B, d_out, d_in) -> (B, k_out, k_in)
        out = torch.einsum("bod,ok,di->bki", grad, self.r_out[i], self.r_in[i])
        return out.reshape(grad.shape[0], -1)


def _layer_seed(seed: int, layer: int) -> int:
    return (int(seed) * 1_000_003 + layer * 7919 + 12345) % (2**63 - 1)
