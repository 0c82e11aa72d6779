"""Targets (met / not met) and the printed table. Pure functions of the results dict."""

from __future__ import annotations

from typing import Any

OVERHEAD_MAX_PERCENT = 5.0
PADDING_MIN_SPEEDUP = 1.3
FROZEN_MIN_SPEEDUP = 4.0
CPU_MIN_FRACTION_OF_PEAK = 0.40
GPU_MIN_MFU = 0.40


NOT_RUN = "not run"


def _target(name: str, goal: str, value: str, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "value": value, "met": met, "note": note}


def ratios(f: dict[str, Any]) -> dict[str, float]:
    """The headline ratio of each figure that was measured (``--only`` leaves the others out)."""
    out: dict[str, float] = {}
    if "overhead" in f:
        out["engine_overhead_percent"] = f["overhead"]["overhead_percent"]["median"]
        out["training_fraction_of_matmul_peak"] = f["flops"]["fraction_of_peak"]["median"]
    if "padding" in f:
        out["engine_vs_standard_samples_per_second"] = f["padding"]["speedup"]
        out["engine_minus_standard_accuracy"] = f["padding"]["accuracy_difference"]
    if "frozen_cache" in f:
        out["frozen_cached_speedup"] = f["frozen_cache"]["speedup"]["median"]
    if "lora_vs_full" in f:
        out["lora_over_full_samples_per_second"] = f["lora_vs_full"]["throughput_ratio_lora_over_full"]
        out["full_over_lora_peak_memory"] = f["lora_vs_full"]["memory_ratio_full_over_lora"]
    if "bert_base_gpu" in f:
        out["bert_base_gpu_mfu"] = f["bert_base_gpu"]["mfu"]["median"]
    return out


def _not_run(name: str, goal: str) -> dict[str, Any]:
    return _target(name, goal, NOT_RUN, None, "left out by --only")


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue target, with the measured value and whether it is met (None: does not apply here)."""
    f = results["figures"]
    out = []
    name, goal = "engine overhead vs a bare PyTorch loop", f"<= {OVERHEAD_MAX_PERCENT:.0f}%"
    if "overhead" in f:
        overhead = f["overhead"]["overhead_percent"]["median"]
        out.append(_target(name, goal, f"{overhead:+.1f}%", overhead <= OVERHEAD_MAX_PERCENT))
    else:
        out.append(_not_run(name, goal))
    name = "engine vs standard recipe (pad to 128), samples/s"
    goal = f">= {PADDING_MIN_SPEEDUP}x at equal or better test accuracy"
    if "padding" in f:
        pad = f["padding"]
        acc_e, acc_s = pad["engine"]["accuracy"], pad["standard"]["accuracy"]
        value = f"{pad['speedup']:.2f}x, accuracy {acc_e:.3f} vs {acc_s:.3f}"
        out.append(_target(name, goal, value, pad["speedup"] >= PADDING_MIN_SPEEDUP and acc_e >= acc_s))
    else:
        out.append(_not_run(name, goal))
    name, goal = "frozen: cached features vs backbone every epoch", f">= {FROZEN_MIN_SPEEDUP:.0f}x"
    if "frozen_cache" in f:
        frozen = f["frozen_cache"]["speedup"]["median"]
        name += f" ({f['frozen_cache']['epochs']} epochs)"
        out.append(_target(name, goal, f"{frozen:.2f}x", frozen >= FROZEN_MIN_SPEEDUP))
    else:
        out.append(_not_run(name, goal))
    name = "CPU training FLOP/s (full fine-tuning) vs the measured matmul peak"
    goal = f">= {CPU_MIN_FRACTION_OF_PEAK:.0%}"
    if "flops" in f:
        fraction = f["flops"]["fraction_of_peak"]["median"]
        on_cpu = results["machine"]["device"] == "cpu"
        out.append(
            _target(
                name,
                goal,
                f"{fraction:.1%}",
                fraction >= CPU_MIN_FRACTION_OF_PEAK if on_cpu else None,
                "" if on_cpu else "measured on a GPU; the target is for CPU runs",
            )
        )
    else:
        out.append(_not_run(name, goal))
    bert = f.get("bert_base_gpu")
    if bert:
        mfu = bert["mfu"]["median"]
        out.append(
            _target("GPU BERT-base full fine-tuning MFU", f">= {GPU_MIN_MFU:.0%}", f"{mfu:.1%}", mfu >= GPU_MIN_MFU)
        )
    else:
        note = "no GPU" if results["machine"]["device"] != "cuda" else "left out by --only"
        out.append(_target("GPU BERT-base full fine-tuning MFU", f">= {GPU_MIN_MFU:.0%}", NOT_RUN, None, note))
    return out


def _row(label: str, s: dict[str, Any] | None, unit: str, scale: float = 1.0, fmt: str = "{:.2f}", extra: str = ""):
    if s is None:
        return f"  {label:<52} {'':>9} {'':>9} {'':>9}  {unit} {extra}".rstrip()
    cells = [fmt.format(s[k] * scale) for k in ("median", "min", "max")]
    return f"  {label:<52} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9}  {unit} {extra}".rstrip()


def _header(results: dict[str, Any]) -> list[str]:
    m, s = results["machine"], results["setup"]
    columns = ""
    if s.get("text_column"):
        columns = f" (text column '{s['text_column']}', label column '{s['label_column']}')"
    return [
        f"TransferLab benchmark: {s['model']} on {s['data']}{columns}",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['device_name']}, torch {m['torch']}, "
        f"{m['threads']} threads" + (f", GPU {m['gpu']}" if m["gpu"] else ""),
        f"Subsets: {s['train_examples']} training examples (throughput figures), {s['validation_examples']} "
        f"validation, {s['test_examples']} test; batch {s['batch_size']}, max length {s['max_length']}; "
        f"medians of {s['repeats']} repeats after warm-up.",
        "",
        f"  {'figure':<52} {'median':>9} {'min':>9} {'max':>9}  unit",
    ]


def _overhead(o: dict[str, Any]) -> list[str]:
    return [
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


def _padding(p: dict[str, Any]) -> list[str]:
    return [
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


def _frozen(fr: dict[str, Any]) -> list[str]:
    return [
        f"3 frozen, {fr['epochs']} epochs, {fr['train_examples']} training texts, cold cache",
        _row("cached features (backbone once)", fr["cached_seconds"], "s"),
        _row("backbone every epoch", fr["uncached_seconds"], "s"),
        _row("speedup", fr["speedup"], "x"),
    ]


def _lora_full(lf: dict[str, Any]) -> list[str]:
    return [
        "4 lora vs full (each in a fresh process)",
        _row(
            "lora", lf["lora"]["samples_per_second"], "samples/s", extra=f"peak +{lf['lora']['peak_memory_mb']:.0f} MB"
        ),
        _row(
            "full", lf["full"]["samples_per_second"], "samples/s", extra=f"peak +{lf['full']['peak_memory_mb']:.0f} MB"
        ),
    ]


def _flops(fl: dict[str, Any], peak: dict[str, Any]) -> list[str]:
    return [
        "5 achieved training FLOP/s, full fine-tuning (real tokens)",
        _row("achieved", fl["achieved_flops_per_second"], "GFLOP/s", scale=1e-9, fmt="{:.1f}"),
        _row("share of the measured matmul peak", fl["fraction_of_peak"], "%", scale=100, fmt="{:.1f}"),
        f"  {'matmul peak (' + peak['dtype'] + ', best of tries)':<52} "
        f"{peak['flops_per_second'] / 1e9:>9.1f}{'':>20}  GFLOP/s",
    ]


def _inference(inf: dict[str, Any]) -> list[str]:
    return [
        f"6 inference, engine.predict.Predictor on {inf['texts']} test texts",
        _row("Predictor.predict_proba", inf["samples_per_second"], "samples/s"),
    ]


SECTIONS = (  # (results key, number and title when not run, lines when run)
    ("overhead", "1 engine vs bare PyTorch loop", _overhead),
    ("padding", "2 engine vs standard recipe", _padding),
    ("frozen_cache", "3 frozen, cached features vs backbone every epoch", _frozen),
    ("lora_vs_full", "4 lora vs full", _lora_full),
    ("flops", "5 achieved training FLOP/s", None),
    ("inference", "6 inference", _inference),
)


def table(results: dict[str, Any]) -> str:
    f = results["figures"]
    lines = _header(results)
    for key, title, section in SECTIONS:
        if key not in f:
            lines.append(f"{title}: {NOT_RUN}")
        elif key == "flops":
            lines += _flops(f["flops"], results["matmul_peak"])
        else:
            lines += section(f[key])
    bert = f.get("bert_base_gpu")
    if bert:
        lines += [
            "G BERT-base-sized full fine-tuning on the GPU (length 128, batch 32)",
            _row("throughput", bert["samples_per_second"], "samples/s"),
            _row("MFU vs the measured bf16 matmul peak", bert["mfu"], "%", scale=100, fmt="{:.1f}"),
        ]
    shares = [
        (k, f[k].get("other_processes_cpu_share"))
        for k in ("overhead", "padding", "frozen_cache", "lora_vs_full")
        if k in f
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
