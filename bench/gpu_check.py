"""The GPU path, proven: full fine-tuning and LoRA of a BERT-base-sized model (built from its config, random
weights, nothing downloaded) through the engine's Trainer settings, with samples/s, peak memory, model FLOPs
utilisation against this GPU's measured bf16 matmul peak, and a check that mixed precision took effect
(the linear layers really compute in bf16 or fp16, TF32 is on).

    bash bench/gpu_check.sh                                  # on a machine with a GPU, under five minutes
    python -m bench.gpu_check --device cpu --tiny            # the same code on a tiny model (the test suite)

Writes the figures as JSON (``--out``, default bench/results/gpu_check.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import matmul_peak, non_embedding_parameters, peak_rss_mb, stat, step_clock, training_flops

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "gpu_check.json"
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
EXPECTED_DTYPE = {"bf16": "torch.bfloat16", "fp16": "torch.float16", "fp32": "torch.float32"}


def check(strategy: str, device_preference: str, tiny: bool, batch: int, seq: int, steps: int) -> dict[str, Any]:
    """Train ``steps`` steps of ``strategy`` and measure them (the first fifth is warm-up, not timed)."""
    import torch
    from transformers import BertConfig, BertModel, default_data_collator, set_seed

    from engine.core.config import TrainConfig
    from engine.core.rundir import RunDir
    from engine.core.strategies import lora_targets
    from engine.tasks.base import ListDataset
    from engine.tasks.text.model import TextClassifier
    from engine.training.device import choose_device
    from engine.training.trainer import build_trainer

    set_seed(0)
    device = choose_device(device_preference)
    config = BertConfig(vocab_size=1000 if tiny else 30522, **(TINY if tiny else BERT_BASE))
    backbone = BertModel(config)
    if strategy == "lora":
        from peft import LoraConfig, get_peft_model

        names = [name for name, _ in backbone.named_modules()]
        backbone = get_peft_model(backbone, LoraConfig(r=8, lora_alpha=16, target_modules=lora_targets("bert", names)))
    model = TextClassifier(backbone, 2, "mean")
    seen: set[str] = set()  # the dtype the linear layers compute in, as autocast makes them
    first_linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    first_linear.register_forward_hook(lambda module, args, output: seen.add(str(output.dtype)))

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000 if not tiny else 5, config.vocab_size, (steps * batch, seq), generator=generator)
    mask = torch.ones(seq, dtype=torch.long)
    data = ListDataset([{"input_ids": ids[i], "attention_mask": mask, "labels": i % 2} for i in range(len(ids))])
    sync = torch.cuda.synchronize if device.kind == "cuda" else None
    clock = step_clock(stop_after=steps, sync=sync)
    settings = TrainConfig(
        data="gpu-check.csv", model="bert-base-sized", strategy=strategy, batch_size=batch, max_length=seq,
        epochs=1, min_steps=0, device=device_preference,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        run = RunDir(folder)
        trainer, _ = build_trainer(settings, run, model, data, None, default_data_collator, None, "random", device, 1)
        trainer.add_callback(clock)
        if device.kind == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    warmup = max(1, steps // 5)
    seconds = clock.times[-1] - clock.times[warmup]
    timed = len(clock.times) - 1 - warmup
    n_params = non_embedding_parameters(model)
    flops = training_flops(n_params, config.num_hidden_layers, config.hidden_size, [seq] * batch) * timed / seconds
    peak = matmul_peak(device.kind, [2048, 4096] if not tiny else [256], tries=3)
    memory = torch.cuda.max_memory_allocated() / 1024**2 if device.kind == "cuda" else peak_rss_mb()
    return {
        "strategy": strategy,
        "device": device.name,
        "precision": device.precision,
        "linear_output_dtypes": sorted(seen),
        "mixed_precision_took_effect": seen == {EXPECTED_DTYPE[device.precision]},
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32) if device.kind == "cuda" else None,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "samples_per_second": batch * timed / seconds,
        "peak_memory_mb": memory,
        "achieved_flops_per_second": flops,
        "peak_flops_per_second": peak["flops_per_second"],
        "mfu": flops / peak["flops_per_second"],
        "steps_timed": timed,
        "steps_per_second": stat([timed / seconds])["median"],
    }


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| strategy | device | precision (linear layers) | samples/s | peak memory | MFU |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        took = "yes" if r["mixed_precision_took_effect"] else "**no**"
        rows.append(
            f"| {r['strategy']} | {r['device']} | {r['precision']} ({', '.join(r['linear_output_dtypes'])}; as set: "
            f"{took}) | {r['samples_per_second']:.1f} | {r['peak_memory_mb']:,.0f} MB | {r['mfu']:.1%} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu", "auto"])
    parser.add_argument("--tiny", action="store_true", help="A tiny model and few steps: checks the code, not a GPU.")
    parser.add_argument("--strategies", default="full,lora")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.time()
    results = [
        check(s, args.device, args.tiny, args.batch_size, args.max_length, args.steps)
        for s in args.strategies.split(",")
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "seconds": time.time() - started}, indent=2) + "\n")
    print(table(results))
    print(f"({time.time() - started:.0f} s; {args.out})")
    return 0 if all(r["mixed_precision_took_effect"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
