"""graphls's loss and model inside a plain PyTorch Geometric training loop on Cora.

    python examples/quickstart.py --root ~/.cache/graphls --epsilon 0.1 --structural 0.8

This is the README's example, with argparse around it: nothing here is
graphls-specific except ``LabelSmoothingLoss``, ``GCN`` and the metrics.
"""

from __future__ import annotations

import argparse

import torch
from torch_geometric.datasets import Planetoid

from graphls import GCN, LabelSmoothingLoss, accuracy_score, expected_calibration_error


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data", help="Planetoid root (raw files under Cora/raw)")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--structural", type=float, default=0.8)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    data = Planetoid(args.root, "Cora")[0]
    model = GCN(data.num_features, 16, 2, 7, dropout=0.5, structural=args.structural,
                cached=True)
    criterion = LabelSmoothingLoss(epsilon=args.epsilon)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)

    best_val, best_state = -1.0, None
    for _epoch in range(args.epochs):
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        loss = criterion(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            pred = model(data.x, data.edge_index).argmax(-1)
        val = accuracy_score(pred[data.val_mask], data.y[data.val_mask])
        if val > best_val:  # keep the best-validation weights
            best_val = val
            best_state = {k: v.clone() for k, v in model.state_dict().items()}

    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        probs = model(data.x, data.edge_index).softmax(-1)
    test = {"accuracy": accuracy_score(probs[data.test_mask], data.y[data.test_mask]),
            "ece": expected_calibration_error(probs[data.test_mask], data.y[data.test_mask])}
    print(f"val accuracy {best_val:.3f}  test accuracy {test['accuracy']:.3f}  "
          f"test ECE {test['ece']:.3f}")
    return test


if __name__ == "__main__":
    main()
