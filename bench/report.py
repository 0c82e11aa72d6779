"""Targets (met / not met) and the printed table. Pure functions of the results dict."""

from __future__ import annotations

from typing import Any

OVERHEAD_MAX_PERCENT = 5.0
PADDING_MIN_SPEEDUP = 1.3
FROZEN_MIN_SPEEDUP = 4.0
CPU_MIN_FRACTION_OF_PEAK = 0.40
GPU_MIN_MFU = 0.40


def _target(name: str, goal: str, value: str, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "value": value, "met": met, "note": note}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue target, with the measured value and whether it is met (None: does not apply here)."""
    f = results["figures"]
    out = []
    overhead = f["overhead"]["overhead_percent"]["median"]
    out.append(
        _target(
            "engine overhead vs a bare PyTorch loop",
            f"<= {OVERHEAD_MAX_PERCENT:.0f}%",
            f"{overhead:+.1f}%",
            overhead <= OVERHEAD_MAX_PERCENT,
        )
    )
    pad = f["padding"]
    acc_e, acc_s = pad["engine"]["accuracy"], pad["standard"]["accuracy"]
    out.append(
        _target(
            "engine vs standard recipe (pad to 128), samples/s",
            f">= {PADDING_MIN_SPEEDUP}x at equal or better test accuracy",
            f"{pad['speedup']:.2f}x, accuracy {acc_e:.3f} vs {acc_s:.3f}",
            pad["speedup"] >= PADDING_MIN_SPEEDUP and acc_e >= acc_s,
        )
    )
    frozen = f["frozen_cache"]["speedup"]["median"]
    out.append(
        _target(
            f"frozen: cached features vs backbone every epoch ({f['frozen_cache']['epochs']} epochs)",
            f">= {FROZEN_MIN_SPEEDUP:.0f}x",
            f"{frozen:.2f}x",
            frozen >= FROZEN_MIN_SPEEDUP,
        )
    )
    fraction = f["flops"]["fraction_of_peak"]["median"]
    on_cpu = results["machine"]["device"] == "cpu"
    out.append(
        _target(
            "CPU training FLOP/s (full fine-tuning) vs the measured matmul peak",
            f">= {CPU_MIN_FRACTION_OF_PEAK:.0%}",
            f"{fraction:.1%}",
            fraction >= CPU_MIN_FRACTION_OF_PEAK if on_cpu else None,
            "" if on_cpu else "measured on a GPU; the target is for CPU runs",
        )
    )
    bert = f.get("bert_base_gpu")
    if bert:
        mfu = bert["mfu"]["median"]
        out.append(
            _target("GPU BERT-base full fine-tuning MFU", f">= {GPU_MIN_MFU:.0%}", f"{mfu:.1%}", mfu >= GPU_MIN_MFU)
        )
    else:
        out.append(_target("GPU BERT-base full fine-tuning MFU", f">= {GPU_MIN_MFU:.0%}", "not run", None, "no GPU"))
    return out


def _row(label: str, s: dict[str, Any] | None, unit: str, scale: float = 1.0, fmt: str = "{:.2f}", extra: str = ""):
    if s is None:
        return f"  {label:<52} {'':>9} {'':>9} {'':>9}  {unit} {extra}".rstrip()
    cells = [fmt.format(s[k] * scale) for k in ("median", "min", "max")]
    return f"  {label:<52} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9}  {unit} {extra}".rstrip()


def table(results: dict[str, Any]) -> str:
    f, m, s = results["figures"], results["machine"], results["setup"]
    lines = [
        f"TransferLab benchmark: {s['model']} on {s['data']}",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['device_name']}, torch {m['torch']}, "
        f"{m['threads']} threads" + (f", GPU {m['gpu']}" if m["gpu"] else ""),
        f"Subsets: {s['train_examples']} training examples (throughput figures), {s['validation_examples']} "
        f"validation, {s['test_examples']} test; batch {s['batch_size']}, max length {s['max_length']}; "
        f"medians of {s['repeats']} repeats after warm-up.",
        "",
        f"  {'figure':<52} {'median':>9} {'min':>9} {'max':>9}  unit",
    ]
    o = f["overhead"]
    lines += [
        "1 engine vs bare PyTorch loop (full fine-tuning, same batches and optimizer, steps alternating)",
        _row("engine (Trainer + run-directory callback)", o["engine_samples_per_second"], "samples/s"),
        _row("bare PyTorch loop", o["bare_samples_per_second"], "samples/s"),
        _row(
            f"engine overhead ({len(o['overhead_percent']['repeats'])} windows)",
            o["overhead_percent"],
            "%",
            fmt="{:+.1f}",
        ),
        _row(
            f"engine overhead, per step ({len(o['per_step_overhead_percent']['repeats'])} paired steps)",
            o["per_step_overhead_percent"],
            "%",
            fmt="{:+.1f}",
            extra=f"all timed steps {o['all_timed_steps_overhead_percent']:+.1f}%",
        ),
    ]
    p = f["padding"]
    lines += [
        f"2 engine vs standard recipe ({p['strategy']}, {p['epochs']} epoch; runs in the order {', '.join(p['order'])})",
        _row(
            "engine: dynamic padding + length-grouped batches",
            p["engine"]["samples_per_second"],
            "samples/s",
            extra=f"acc {p['engine']['accuracy']:.3f}, {p['engine']['padded_tokens_per_example']:.0f} tokens/example",
        ),
        _row(
            f"standard: pad to {p['max_length']}, random batches",
            p["standard"]["samples_per_second"],
            "samples/s",
            extra=f"acc {p['standard']['accuracy']:.3f}, "
            f"{p['standard']['padded_tokens_per_example']:.0f} tokens/example",
        ),
        f"  {'speedup (ratio of medians)':<52} {p['speedup']:>9.2f}{'':>20}  x",
        f"  {'most padding can save: standard tokens / engine tokens':<52} "
        f"{p['token_ratio_standard_over_engine']:>9.2f}{'':>20}  x",
    ]
    fr = f["frozen_cache"]
    lines += [
        f"3 frozen, {fr['epochs']} epochs, {fr['train_examples']} training texts, cold cache",
        _row("cached features (backbone once)", fr["cached_seconds"], "s"),
        _row("backbone every epoch", fr["uncached_seconds"], "s"),
        _row("speedup", fr["speedup"], "x"),
    ]
    lf = f["lora_vs_full"]
    lines += [
        "4 lora vs full (each in a fresh process)",
        _row(
            "lora", lf["lora"]["samples_per_second"], "samples/s", extra=f"peak +{lf['lora']['peak_memory_mb']:.0f} MB"
        ),
        _row(
            "full", lf["full"]["samples_per_second"], "samples/s", extra=f"peak +{lf['full']['peak_memory_mb']:.0f} MB"
        ),
    ]
    fl = f["flops"]
    lines += [
        "5 achieved training FLOP/s, full fine-tuning (real tokens)",
        _row("achieved", fl["achieved_flops_per_second"], "GFLOP/s", scale=1e-9, fmt="{:.1f}"),
        _row("share of the measured matmul peak", fl["fraction_of_peak"], "%", scale=100, fmt="{:.1f}"),
        f"  {'matmul peak (' + results['matmul_peak']['dtype'] + ', best of tries)':<52} "
        f"{results['matmul_peak']['flops_per_second'] / 1e9:>9.1f}{'':>20}  GFLOP/s",
    ]
    inf = f["inference"]
    lines += [
        f"6 inference, engine.predict.Predictor on {inf['texts']} test texts",
        _row("Predictor.predict_proba", inf["samples_per_second"], "samples/s"),
    ]
    bert = f.get("bert_base_gpu")
    if bert:
        lines += [
            "G BERT-base-sized full fine-tuning on the GPU (length 128, batch 32)",
            _row("throughput", bert["samples_per_second"], "samples/s"),
            _row("MFU vs the measured bf16 matmul peak", bert["mfu"], "%", scale=100, fmt="{:.1f}"),
        ]
    shares = [
        (k, f[k].get("other_processes_cpu_share")) for k in ("overhead", "padding", "frozen_cache", "lora_vs_full")
    ]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in shares if v is not None)
    if results.get("other_processes_cpu_share") is not None:
        lines += [
            "",
            f"CPU taken by other processes while measuring: {results['other_processes_cpu_share']:.0%} of the machine "
            f"({shares}); figures measured on a busy machine are pessimistic.",
        ]
    lines += ["", "Targets"]
    for t in results["targets"]:
        mark = {True: "met    ", False: "NOT met", None: "n/a    "}[t["met"]]
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"  [{mark}] {t['name']}: {t['value']} (target {t['target']}){note}")
    if results.get("profile"):
        prof = results["profile"]
        top = ", ".join(f"{o['op']} {o['self_cpu_share']:.0%}" for o in prof["top_ops"][:5])
        lines += [
            "",
            f"Profile ({prof['steps']} full fine-tuning steps): matmul kernels "
            f"{prof['matmul_share_of_self_cpu_time']:.0%} of self CPU time; top: {top}. Table: {prof['path']}",
        ]
    return "\n".join(lines)
