# Checks an `rnc-run train --metrics` file: one JSON object per line with
# every field, finite values, epochs 1..N, and a final test accuracy of at
# least MIN; with --loss-falls also a train loss lower each epoch than the
# one before. Usage: check_metrics.py FILE N MIN [--loss-falls]
import json
import math
import sys

path, epochs, min_acc = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
loss_falls = sys.argv[4:] == ["--loss-falls"]
losses = []
keys = {"epoch", "train_loss", "train_acc", "test_acc", "images_per_sec",
        "seconds", "lr", "data_wait"}
with open(path) as f:
    lines = f.read().splitlines()
assert len(lines) == epochs, f"{len(lines)} lines, expected {epochs}"
for i, line in enumerate(lines, 1):
    row = json.loads(line)
    assert set(row) == keys, f"line {i}: keys {sorted(row)}"
    assert row["epoch"] == i, f"line {i}: epoch {row['epoch']}"
    for k in keys:
        assert math.isfinite(row[k]), f"line {i}: {k} = {row[k]}"
    assert 0 <= row["train_acc"] <= 1 and 0 <= row["test_acc"] <= 1, line
    assert row["images_per_sec"] > 0 and row["seconds"] > 0, line
    assert 0 <= row["data_wait"] <= 1, line
    losses.append(row["train_loss"])
if loss_falls:
    assert all(b < a for a, b in zip(losses, losses[1:])), f"train loss {losses} does not fall"
    print("train loss falls: " + " ".join(f"{v:.3f}" for v in losses))
print(f"metrics ok: {epochs} epochs, test acc {row['test_acc']:.3f}")
assert row["test_acc"] >= min_acc, f"test acc {row['test_acc']} < {min_acc}"
