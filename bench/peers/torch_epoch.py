"""PyTorch CPU peer for `npm run bench -- core`: the same network, initialisation and
settings as the native core, written the way a PyTorch user would (nn.Linear layers, SGD
with weight decay on weights only, a shuffled index per epoch, slicing preloaded tensors).

Prints one JSON line:
{"threads": T, "torch": version, "epochSeconds": [...], "warmupSeconds": s, "valAccuracy": ...}.
Run with Debian's python3 (apt-get install python3-torch).
"""
import argparse
import gzip
import json
import os
import struct
import time

import torch


def read_idx(path):
    # The same files the core reads: raw IDX, or gzipped beside it.
    raw = os.path.exists(path)
    with open(path, "rb") if raw else gzip.open(path + ".gz", "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(count, rows * cols)
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--sizes", required=True)
    parser.add_argument("--mb", type=int, required=True)
    parser.add_argument("--eta", type=float, default=0.5)
    parser.add_argument("--lmbda", type=float, default=5.0)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    # Untimed mini-batches before the timed epochs (allocator, thread pool, autograd caches), for
    # configurations too slow to afford a whole warm-up epoch.
    parser.add_argument("--warmup-batches", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sizes = [int(s) for s in args.sizes.split(",")]
    images = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte")).float() / 255.0
    labels = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte")).long()
    x_train, y_train = images[:50000].contiguous(), labels[:50000]
    x_val, y_val = images[50000:].contiguous(), labels[50000:]
    n = x_train.shape[0]
    targets = torch.nn.functional.one_hot(y_train, sizes[-1]).float()

    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        linear = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():  # the chapter's default initialisation
            linear.weight.normal_(0.0, 1.0 / n_in ** 0.5)
            linear.bias.normal_(0.0, 1.0)
        layers += [linear, torch.nn.Sigmoid()]
    # The output sigmoid lives inside the loss (below): the model returns the output z.
    model = torch.nn.Sequential(*layers[:-1])
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    # network2: w <- (1 - eta*lmbda/n) w - eta/m sum(grad); biases are not decayed.
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": args.lmbda / n}, {"params": biases, "weight_decay": 0.0}], lr=args.eta
    )
    # Cross-entropy of sigmoid outputs, summed over the output neurons, averaged over the
    # mini-batch. On z, not on sigmoid(z): its gradient is then exactly sigmoid(z) - y, network2's
    # output delta (a - y). BCELoss on sigmoid outputs divides by a(1-a) and multiplies by
    # sigmoid' = a(1-a), which is 0 once a rounds to 1.0 in float32 -- the learning slowdown
    # cross-entropy exists to avoid; [784,800,10] at m=100 stalled at chance that way.
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")

    def train(order, count):
        for k in range(0, count, args.mb):
            index = order[k : k + args.mb]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[index]), targets[index]) / index.shape[0]
            loss.backward()
            optimizer.step()

    start = time.perf_counter()
    train(torch.randperm(n), min(n, args.warmup_batches * args.mb))
    warmup_seconds = time.perf_counter() - start

    epoch_seconds = []
    for _ in range(args.epochs):
        order = torch.randperm(n)
        start = time.perf_counter()
        train(order, n)
        epoch_seconds.append(time.perf_counter() - start)

    with torch.no_grad():
        accuracy = (model(x_val).argmax(dim=1) == y_val).float().mean().item()
    result = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "epochSeconds": epoch_seconds,
        "warmupSeconds": warmup_seconds,
        "valAccuracy": accuracy,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
