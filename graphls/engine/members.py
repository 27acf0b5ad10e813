r"""The members of a batch: stacked parameters from public models, generators and loss targets.

Each member starts as the public model its config describes
(:meth:`graphls.config.TrainConfig.build_model`, initialised under
``torch.manual_seed(seed)``); :class:`Members` stacks those models'
parameters over members (``(B, ...)``) and hands a member back as the public
model's ``state_dict`` (:meth:`Members.member_state`), so a trained member is
an ordinary :class:`~graphls.models.GCN` / :class:`~graphls.models.GAT`.

The loss targets are the label-smoothed distributions of
:func:`graphls.functional.smooth_targets`,

.. math::
    q_{b,i} = (1 - \epsilon_b)\, e_{y_{b,i}} + \epsilon_b\, \pi_{b,i},

with each member's own ε (and schedule), training labels (label noise) and
prior :math:`\pi_b` (:func:`make_prior`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphls.config import TrainConfig
from graphls.engine.graph import PreparedGraph
from graphls.engine.stacked import StackedParams, gat_forward, gcn_forward
from graphls.losses import EpsilonSchedule
from graphls.priors import neighbor_label_prior, posterior_label_prior

__all__ = ["Members", "epsilon_at", "make_prior"]


@dataclass
class _TrainView:
    """The two attributes :func:`make_prior` reads."""

    edge_index: Tensor
    train_mask: Tensor


def make_prior(data: Any, y_train: Tensor, config: TrainConfig, num_classes: int, *,
               pseudo_labels: Tensor | None = None) -> Tensor | None:
    r"""The smoothing prior of the training nodes: ``None`` (uniform), ``(K,)`` or ``(n_train, K)``

    ``"class"``: the training-label frequencies; ``"neighbors"``:
    :func:`~graphls.priors.neighbor_label_prior`; either is mixed with the
    uniform distribution by ``prior_weight`` :math:`w`. ``"posterior"``:
    PosteL's :func:`~graphls.priors.posterior_label_prior` :math:`p_i`
    (with ``pseudo_labels`` at non-training nodes), mixed as PosteL mixes it,

    .. math::
        u_i = w\, p_i + (1 - w)\, \frac{1 - e_{y_i}}{K - 1},

    so that ``epsilon = α`` and ``prior_weight = 1 - β`` give PosteL's target
    :math:`\alpha [(1 - \beta) p_i + \beta (1 - e_{y_i}) / (K - 1)] + (1 - \alpha) e_{y_i}`.
    Reads only training labels (``y_train`` at ``data.train_mask``), the
    ``pseudo_labels`` and ``data.edge_index``.
    """
    mask = data.train_mask
    w = config.prior_weight
    if config.prior == "posterior":
        p = posterior_label_prior(data.edge_index, y_train, mask, num_classes,
                                  pseudo_labels=pseudo_labels)[mask]
        others = 1.0 - F.one_hot(y_train[mask], num_classes).to(p.dtype)
        return w * p + (1 - w) * others / (num_classes - 1)
    if config.prior == "uniform" or w == 0:
        return None
    uniform = torch.full((num_classes,), 1.0 / num_classes, device=y_train.device)
    if config.prior == "class":
        counts = torch.bincount(y_train[mask], minlength=num_classes).float()
        prior = counts / counts.sum().clamp_min(1)
    else:
        prior = neighbor_label_prior(data.edge_index, y_train, mask, num_classes)[mask]
    prior = w * prior + (1 - w) * uniform
    return prior / prior.sum(dim=-1, keepdim=True)


def epsilon_at(config: TrainConfig) -> Callable[[int], float]:
    """ε at each epoch: ``epsilon``, or its :class:`~graphls.losses.EpsilonSchedule`."""
    if config.epsilon_schedule == "constant" or config.epsilon_start is None:
        return lambda _epoch: config.epsilon
    return EpsilonSchedule(config.epsilon_schedule, config.epsilon_start, config.epsilon,
                           num_epochs=config.epochs)


class Members:
    """The active members' stacked parameters, dropout generators and loss targets.

    Parameters are stacked per kind and layer: ``weights[l]`` is ``(B, in, out)``
    (the public layer's ``lin.weight`` transposed), ``biases[l]`` ``(B, out)``,
    ``logits[l]`` ``(B,)`` (learnable λ) and, for GAT, ``atts`` holds ``a_src``
    of every layer, then ``a_dst`` of every layer, each ``(B, heads, C)``.
    """

    def __init__(self, graph: PreparedGraph, configs: Sequence[TrainConfig],
                 pseudo_labels: Sequence[Tensor | None] | None = None) -> None:
        self.graph = graph
        self.configs = list(configs)
        self.ids = list(range(len(configs)))
        cfg0 = configs[0]
        self.num_layers = cfg0.layers
        self.learn = cfg0.learn_structural
        self.gat = cfg0.model == "gat"
        device = graph.y.device
        in_channels = graph.x.size(1)
        weights: list[list[Tensor]] = [[] for _ in range(self.num_layers)]
        biases: list[list[Tensor]] = [[] for _ in range(self.num_layers)]
        logits: list[list[Tensor]] = [[] for _ in range(self.num_layers)]
        atts: list[list[Tensor]] = [[] for _ in range(2 * self.num_layers)]
        self.generators: list[torch.Generator] = []
        for cfg in configs:
            # The public model, initialised under the member's seed; its dropout masks
            # then come from a generator in the state the global one would have next.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                model = cfg.build_model(in_channels, graph.num_classes)
                state = torch.get_rng_state()
            gen = torch.Generator(device=device)
            if device.type == "cpu":
                gen.set_state(state)
            else:
                gen.manual_seed(cfg.seed)
            self.generators.append(gen)
            for i, conv in enumerate(model.convs):
                weights[i].append(conv.lin.weight.detach().t())
                biases[i].append(conv.bias.detach())
                if self.learn:
                    logits[i].append(conv.structural_logit.detach())
                if self.gat:  # (1, heads, C) attention vectors, as (heads, C)
                    atts[i].append(conv.att_src.detach()[0])
                    atts[self.num_layers + i].append(conv.att_dst.detach()[0])
        self.weights = [torch.stack(w).to(device).requires_grad_() for w in weights]
        self.biases = [torch.stack(b).to(device).requires_grad_() for b in biases]
        self.logits = ([torch.stack(t).to(device).requires_grad_() for t in logits]
                       if self.learn else [])
        self.atts = ([torch.stack(t).to(device).requires_grad_() for t in atts]
                     if self.gat else [])
        dtype = self.weights[0].dtype
        self.structural = [c.structural_per_layer for c in configs]
        self.dropout = [float(c.dropout) for c in configs]
        self.input_dropout = [float(c.dropout) if c.input_dropout else 0.0 for c in configs]

        # loss targets q = (1 - eps) onehot + eps prior, stacked (n_train, B, K)
        masks = graph.masks
        self.train_idx = masks["train"].nonzero().view(-1)
        k = graph.num_classes
        view = _TrainView(graph.edge_index, masks["train"])
        onehots, priors = [], []
        pseudo = list(pseudo_labels) if pseudo_labels is not None else [None] * len(configs)
        for cfg, pseudo_b in zip(configs, pseudo, strict=True):
            y_train = graph.y
            if cfg.label_noise > 0:
                from graphls.data import add_label_noise

                y_train = add_label_noise(graph.y, masks["train"], cfg.label_noise,
                                          kind=cfg.noise_kind, seed=cfg.seed, num_classes=k)
            onehots.append(F.one_hot(y_train[self.train_idx], k).to(dtype))
            prior = make_prior(view, y_train, cfg, k, pseudo_labels=pseudo_b)
            if prior is None:
                prior = torch.full((k,), 1.0 / k, device=device)
            priors.append(prior.to(dtype).expand(self.train_idx.numel(), k))
        self.onehot = torch.stack(onehots, 1)
        self.prior = torch.stack(priors, 1)
        self.epsilon_at = [epsilon_at(c) for c in configs]

    # -- parameters --------------------------------------------------------
    def parameters(self) -> list[Tensor]:
        return [*self.weights, *self.biases, *self.logits, *self.atts]

    def unpack(self, state: Sequence[Tensor]) -> StackedParams:
        """A list ordered as :meth:`parameters` (e.g. a saved state), by kind and layer."""
        n = self.num_layers
        logits_end = 2 * n + (n if self.learn else 0)
        atts = list(state[logits_end:])
        return StackedParams(weights=list(state[:n]), biases=list(state[n:2 * n]),
                             logits=list(state[2 * n:logits_end]), att_src=atts[:n],
                             att_dst=atts[n:])

    def member_state(self, state: Sequence[Tensor], member: int) -> dict[str, Tensor]:
        """Member ``member`` of ``state`` (ordered as :meth:`parameters`) as the public
        model's ``state_dict`` (CPU tensors)."""
        params = self.unpack(state)
        out: dict[str, Tensor] = {}
        for i in range(self.num_layers):
            out[f"convs.{i}.lin.weight"] = params.weights[i][member].t()
            out[f"convs.{i}.bias"] = params.biases[i][member]
            if self.learn:
                out[f"convs.{i}.structural_logit"] = params.logits[i][member]
            if self.gat:
                out[f"convs.{i}.att_src"] = params.att_src[i][member].unsqueeze(0)
                out[f"convs.{i}.att_dst"] = params.att_dst[i][member].unsqueeze(0)
        return {k: v.detach().cpu().clone() for k, v in out.items()}

    def run(self, state: Sequence[Tensor], structural: Sequence[Sequence[float]],
            dropout: Sequence[float] | None, generators: Sequence[torch.Generator],
            input_dropout: Sequence[float] | None = None, rows: Tensor | None = None
            ) -> Tensor:
        """Logits ``(N, B, K)`` of the stacked GCN or GAT with parameters ``state``.

        ``rows`` (a boolean node mask): these nodes' logits only, ``(n_rows, B, K)``
        in node order (GAT computes only what they depend on).
        """
        params = self.unpack(state)
        if self.gat:
            return gat_forward(self.graph, params, structural, dropout, generators,
                               input_dropout, rows)
        out = gcn_forward(self.graph, params.weights, params.biases,
                          params.logits if self.learn else None, structural, dropout,
                          generators, input_dropout)
        return out if rows is None else out[rows]

    def weight_decay(self) -> list[list[float]]:
        """Per parameter (ordered as :meth:`parameters`), per member: the decay rule.

        ``weight_decay_scope="first"`` decays the first layer's weights and bias,
        ``"all"`` every weight, bias and attention vector; a learnable λ is never
        decayed (decay would pull it toward 0.5 rather than toward a smaller model).
        """
        out = []
        n = self.num_layers
        for kind, group in (("w", self.weights), ("b", self.biases), ("t", self.logits),
                            ("w", self.atts[:n]), ("w", self.atts[n:])):
            for layer in range(len(group)):
                out.append([0.0 if kind == "t" else
                            c.weight_decay if layer == 0 or c.weight_decay_scope == "all"
                            else 0.0 for c in self.configs])
        return out

    def state(self) -> list[Tensor]:
        return [p.detach() for p in self.parameters()]

    def keep(self, index: Sequence[int]) -> list[Tensor]:
        """Keep members ``index`` (positions among the active ones); return the new leaves."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.weights[0].device)

        def pick(ts: list[Tensor]) -> list[Tensor]:
            return [t.detach().index_select(0, idx).requires_grad_() for t in ts]

        self.weights, self.biases, self.logits = (pick(self.weights), pick(self.biases),
                                                  pick(self.logits))
        self.atts = pick(self.atts)
        for name in ("configs", "ids", "generators", "structural", "dropout", "input_dropout",
                     "epsilon_at"):
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in index])
        self.onehot = self.onehot.index_select(1, idx)
        self.prior = self.prior.index_select(1, idx)
        return self.parameters()

    # -- forward -----------------------------------------------------------
    def forward(self, training: bool, rows: Tensor | None = None) -> Tensor:
        """Logits ``(N, B, K)`` of the active members (dropout when ``training``), or of
        ``rows`` only (see :meth:`run`)."""
        if not training:
            return self.run(self.parameters(), self.structural, None, self.generators,
                            rows=rows)
        return self.run(self.parameters(), self.structural, self.dropout, self.generators,
                        self.input_dropout, rows)

    def loss(self, logits: Tensor, epoch: int) -> tuple[Tensor, list[float], list[float]]:
        """Summed loss, and each member's loss and ε at ``epoch``, from the training
        nodes' logits ``(n_train, B, K)`` (node order).

        Summed, not averaged, so that each member gets exactly its own gradient.
        """
        eps = [float(e(epoch)) for e in self.epsilon_at]
        logp = F.log_softmax(logits, dim=-1)  # (n_train, B, K)
        e = torch.tensor(eps, dtype=logp.dtype, device=logp.device).view(1, -1, 1)
        target = (1.0 - e) * self.onehot + e * self.prior
        per_member = -(target * logp).sum(-1).mean(0)
        return per_member.sum(), per_member.detach().tolist(), eps
