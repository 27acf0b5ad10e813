"""Train GCN on Cora with the graphls Python API: a given (ε, λ) against the plain baseline.

    python examples/train_cora.py --root ~/.cache/graphls --epsilon 0.1 --structural 0.8 --seeds 10
"""

from __future__ import annotations

import argparse

from graphls.config import TrainConfig
from graphls.data import load_dataset
from graphls.engine import evaluate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="default: $GRAPHLS_DATA or ~/.cache/graphls")
    parser.add_argument("--model", choices=["gcn", "gat"], default="gcn")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--structural", type=float, default=0.8)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)

    data = load_dataset("Cora", root=args.root, split="public")
    summaries = {}
    for label, eps, lam in (("baseline (ε=0, λ=1)", 0.0, 1.0),
                            (f"graphls (ε={args.epsilon:g}, λ={args.structural:g})",
                             args.epsilon, args.structural)):
        config = TrainConfig.for_model(args.model, epsilon=eps, structural=lam,
                                       epochs=args.epochs)
        summaries[label] = evaluate(data, config, seeds=args.seeds, progress=True).summary()
        test = summaries[label]["test"]
        print(f"{label}: test accuracy {100 * test['accuracy']['mean']:.2f} "
              f"± {100 * test['accuracy']['std']:.2f} %, ECE {100 * test['ece']['mean']:.2f} "
              f"± {100 * test['ece']['std']:.2f} % (mean ± std over {args.seeds} seeds)")
    return summaries


if __name__ == "__main__":
    main()
