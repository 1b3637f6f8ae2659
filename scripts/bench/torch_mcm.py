#!/usr/bin/env python3
"""PyTorch peer of mcm's training step: the default CustomerModel and one AdamW step.

`npm run bench:train -- --mcm-vs-torch` writes the model configuration and the batches
that the mcm step trains on to a JSON file, then runs
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/bench/torch_mcm.py --batches FILE --threads 1
Both sides train on the same batches, already cut into the same micro-batches.
The script prints one JSON line: the timed steps' sequences per second (all their
sequences over their total wall time, as the mcm side counts them) and the median step.

The model follows packages/model (see docs/model.md):
- heterogeneous embedding: per event, the mean over the features present of each
  feature's table row, with a multi-valued feature mean-pooled over its non-zero slots.
  A learned position, counted from the last event, is added. Id 0 is padding.
- post-LN encoder: LayerNorm on the embedding, then blocks x = LN(x + f(x)) with
  multi-head self-attention (padding keys masked) and an exact-GELU feed-forward network,
  dropout after the embedding norm, the attention output and the feed-forward output;
- attentional readout per task: e_w = table row w times a [hidden, hidden] projection,
  s(w) = sum_i softmax_i(e_w . h_i) (e_w . h_i) over real positions, plus a candidate bias;
- per task, cross-entropy over candidates 1 .. V-1 (full softmax) when V is at most the
  sampled-softmax threshold, else the positive against shared log-uniform negatives with
  the log(N q) correction; losses summed over tasks;
- gradient clipping to a global norm, then AdamW with decay on matrices and tables only.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MASKED_LOGIT = -1e9


class Block(nn.Module):
    """One post-LN transformer block: x = LN(x + drop(attention(x))), then LN(x + drop(ffn(x)))."""

    def __init__(self, hidden, heads, ffn, dropout, epsilon):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.output = (nn.Linear(hidden, hidden) for _ in range(4))
        self.inner, self.outer = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=epsilon)
        self.ffn_norm = nn.LayerNorm(hidden, eps=epsilon)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask):  # x [B, T, H]; mask [B, 1, 1, T], additive
        batch, length, hidden = x.shape
        head_size = hidden // self.heads

        def split(t):  # [B, T, H] -> [B, h, T, hs]
            return t.view(batch, length, self.heads, head_size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_size) + mask  # [B, h, T, T]
        context = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(batch, length, hidden)  # [B, T, H]
        x = self.attention_norm(x + self.dropout(self.output(context)))
        return self.ffn_norm(x + self.dropout(self.outer(F.gelu(self.inner(x)))))


class CustomerModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = config["hidden"]
        self.config = config
        self.tables = nn.ParameterDict()
        for feature in config["features"]:
            table = torch.empty(feature["rows"], hidden)
            nn.init.trunc_normal_(table, std=config["initStd"], a=-2 * config["initStd"], b=2 * config["initStd"])
            table[0] = 0
            self.tables[feature["name"]] = nn.Parameter(table)
        self.positions = nn.Parameter(torch.empty(config["maxLength"], hidden))
        nn.init.trunc_normal_(self.positions, std=config["initStd"], a=-2 * config["initStd"], b=2 * config["initStd"])
        self.norm = nn.LayerNorm(hidden, eps=config["layerNormEpsilon"])
        self.dropout = nn.Dropout(config["dropout"])
        self.blocks = nn.ModuleList(
            Block(hidden, config["heads"], config["ffnWidth"], config["dropout"], config["layerNormEpsilon"])
            for _ in range(config["layers"])
        )
        self.projections = nn.ParameterDict({task["name"]: nn.Parameter(torch.eye(hidden)) for task in config["tasks"]})
        self.biases = nn.ParameterDict({task["name"]: nn.Parameter(torch.zeros(task["vocabularySize"])) for task in config["tasks"]})

    def encode(self, batch):
        """Returns the last block's hidden states [B, T, H] and the additive key mask [B, T]."""
        lengths = batch["lengths"]  # [B]
        size, length = batch["batchSize"], batch["length"]
        index = torch.arange(length)[None, :]  # [1, T]
        real = index < lengths[:, None]  # [B, T]
        positions = torch.where(real, lengths[:, None] - 1 - index, torch.zeros_like(index))  # [B, T], from the last event

        # Weight of each slot in the event's mean: 1 / (non-zero slots x features present).
        pooled, present = [], torch.zeros(size, length)
        for feature in self.config["features"]:
            ids = batch["features"][feature["name"]]  # [B, T, W]
            slots = ((ids != 0) & real[:, :, None]).float()  # [B, T, W]
            count = slots.sum(-1, keepdim=True)  # [B, T, 1]
            weights = slots / count.clamp(min=1)
            pooled.append((self.tables[feature["name"]][ids] * weights[..., None]).sum(2))  # [B, T, H]
            present += (count[..., 0] > 0).float()
        events = torch.stack(pooled).sum(0) / present.clamp(min=1)[..., None]  # [B, T, H]

        key_mask = torch.where(real, 0.0, MASKED_LOGIT)  # [B, T]
        x = self.dropout(self.norm(events + self.positions[positions]))
        for block in self.blocks:
            x = block(x, key_mask[:, None, None, :])
        return x, key_mask

    def task_loss(self, task, hidden, key_mask, labels, generator):
        """Mean cross-entropy of one task over the rows whose label is not 0."""
        size = hidden.shape[0]
        table = self.tables[task["feature"]]
        projection, bias = self.projections[task["name"]], self.biases[task["name"]]
        vocabulary = task["vocabularySize"]

        if vocabulary <= self.config["sampledSoftmaxThreshold"]:
            logits = self.score_shared(hidden, key_mask, table[1:], projection) + bias[1:]  # [B, V - 1]
            targets = (labels.clamp(min=1) - 1).long()
        else:
            # NOTE: this branch has only been run, not compared with mcm's loss, because the
            # synthetic dataset's tasks all have at most 1,024 candidates.
            count = self.config["sampledNegatives"]
            uniform = torch.rand(count, generator=generator, dtype=torch.float64)
            candidates = torch.exp(uniform * math.log(vocabulary)).floor().long().clamp(max=vocabulary - 1)  # [N]
            q = torch.log1p(1.0 / candidates.double()) / math.log(vocabulary)
            correction = torch.log(count * q).float()  # [N], log(N q(id))
            positive_rows = table[labels] @ projection  # [B, H]
            paired = (hidden * positive_rows[:, None, :]).sum(-1)  # [B, T]
            positive = (torch.softmax(paired + key_mask, -1) * paired).sum(-1) + bias[labels]  # [B]
            sampled = self.score_shared(hidden, key_mask, table[candidates], projection) + bias[candidates]  # [B, N]
            hits = candidates[None, :] == labels[:, None]
            corrected = torch.where(hits, torch.full_like(sampled, MASKED_LOGIT), sampled - correction)
            logits = torch.cat([positive[:, None], corrected], 1)  # [B, 1 + N]
            targets = torch.zeros(size, dtype=torch.long)

        weights = (labels != 0).float()
        per_row = F.cross_entropy(logits, targets, reduction="none")  # [B]
        return (per_row * weights).sum() / weights.sum().clamp(min=1)

    @staticmethod
    def score_shared(hidden, key_mask, rows, projection):
        """Attentional scores of candidate rows [C, H] for every customer: [B, C]."""
        size, length, width = hidden.shape
        flat = hidden.reshape(size * length, width)  # [B*T, H]
        # (e W) . h = e . (h W^T): project whichever side has fewer rows, as the mcm head does.
        if rows.shape[0] > flat.shape[0]:
            logits = (flat @ projection.t()) @ rows.t()  # [B*T, C]
        else:
            logits = flat @ (rows @ projection).t()
        logits = logits.view(size, length, -1).transpose(1, 2)  # [B, C, T]
        attention = torch.softmax(logits + key_mask[:, None, :], -1)
        return (attention * logits).sum(-1)


def load_batches(path):
    """Reads the configuration and the steps' micro-batches as tensors."""
    with open(path) as file:
        spec = json.load(file)
    widths = {feature["name"]: feature["width"] for feature in spec["config"]["features"]}
    steps = []
    for step in spec["steps"]:
        parts = []
        for part in step:
            size, length = part["batchSize"], part["length"]
            parts.append({
                "batchSize": size,
                "length": length,
                "lengths": torch.tensor(part["lengths"], dtype=torch.long),
                "features": {
                    name: torch.tensor(ids, dtype=torch.long).view(size, length, widths[name])
                    for name, ids in part["features"].items()
                },
                "labels": {task: torch.tensor(ids, dtype=torch.long) for task, ids in part["labels"].items()},
                "shares": part["shares"],
            })
        steps.append(parts)
    return spec["config"], spec["warmup"], steps


def run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config, warmup, steps = load_batches(args.batches)
    model = CustomerModel(config)
    model.train()
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": config["weightDecay"]}, {"params": others, "weight_decay": 0.0}],
        lr=config["learningRate"],
        betas=(config["beta1"], config["beta2"]),
        eps=config["epsilon"],
    )
    generator = torch.Generator().manual_seed(args.seed)

    times, sequences, loss = [], 0, float("nan")
    for index, parts in enumerate(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for part in parts:
            hidden, key_mask = model.encode(part)
            # Each micro-batch's task loss counts by its share of the batch's labelled rows,
            # so the summed gradients equal those of the whole batch's mean.
            part_loss = sum(
                part["shares"][task["name"]] * model.task_loss(task, hidden, key_mask, part["labels"][task["name"]], generator)
                for task in config["tasks"]
            )
            part_loss.backward()
            total += part_loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["clipNorm"])
        optimizer.step()
        if index >= warmup:
            times.append((time.perf_counter() - start) * 1000)
            sequences += sum(part["batchSize"] for part in parts)
            loss = total

    total_ms = sum(times)
    return {
        "engine": f"torch {torch.__version__}",
        "threads": args.threads,
        "steps": len(times),
        "sequences": sequences,
        "total_ms": round(total_ms, 1),
        "median_ms": round(sorted(times)[len(times) // 2], 1),
        "sequences_per_s": round(sequences / total_ms * 1000, 1),
        "loss": round(loss, 4),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", required=True, help="JSON file of configuration and batches written by bench-train")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=1, help="seed of weights, dropout and sampled negatives")
    print(json.dumps(run(parser.parse_args())), flush=True)
