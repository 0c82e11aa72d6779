"""One run's chapter of the report, section by section, in plain words (HTML strings, every user value escaped)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from engine.core.adapt_compare import adaptation_gain
from engine.core.adapt_compare import rows as adaptation_rows
from engine.core.baselines import baseline_rows, baseline_summary, baseline_warning, classical_note
from engine.core.compare import data_description
from engine.core.metrics import CONFIDENCE, top_confusions
from engine.core.prove_it import side_by_side, transfer_gain
from engine.core.reporting import (
    interval_words,
    limitations,
    pretrained_on,
    reuse_words,
    score_words,
)
from engine.core.strategies import STRATEGIES
from engine.core.words import format_params, format_seconds, listed, percent, plural
from engine.data.dataset import imbalance_ratio
from engine.report import figures
from engine.report.document import Charts, bullets, cards, esc, table, warning
from engine.report.examples import examples_html
from engine.report.facts import RunFacts, git_commit, hardware, train_command, versions
from ui import charts as ui_charts
from ui import study_charts

# The sections every chapter has, in order: (id, title). Tests check the report holds each.
SECTIONS = (
    ("data", "The question and the data"),
    ("model", "The model and how it was trained"),
    ("scores", "How well it does"),
    ("studies", "How much data, which strategy"),
    ("errors", "Where it goes wrong"),
    ("examples", "Examples"),
    ("limits", "Limitations"),
    ("reproduce", "How to reproduce it"),
)


def heading(prefix: str, key: str) -> str:
    title = dict(SECTIONS)[key]
    return f'<h2 id="{esc(prefix)}{key}">{esc(title)}</h2>'


def summary(f: RunFacts) -> str:
    m = f.metrics
    model = f.model_info.title if f.model_info else m.get("model") or f.config.get("model")
    strategy = STRATEGIES.get(str(m.get("strategy")))
    n_classes = len(m.get("labels") or [])
    base = (
        f"the pre-trained model {model}"
        if strategy is None or strategy.pretrained
        else f"the architecture of {model}, from random weights"
    )
    return (
        f"A {f.task.examples[:-1]} classifier that sorts {f.task.examples} into {n_classes} classes, built on {base} "
        f"with the strategy “{strategy.title if strategy else m.get('strategy')}”. "
        f"On {plural(int(m.get('test_examples') or 0), f'held-out test {f.task.unit}')} it scores {score_words(m)}."
    )


def data_section(f: RunFacts, chart: Charts, prefix: str) -> str:
    m, unit = f.metrics, f.task.unit
    counts = f.class_counts
    out = [heading(prefix, "data")]
    classes = listed(list(counts), limit=12)
    one = f"{'an' if unit[0] in 'aeiou' else 'a'} {unit}"
    out.append(f"<p><b>The question:</b> which of these classes does {one} belong to? {esc(classes)}.</p>")
    out.append(
        f"<p>The model learned to tell {len(counts)} classes apart from {esc(data_description(f.config))}. "
        + (
            "Examples per class in that file:</p>"
            if f.counts_source == "data"
            else f"The data file is no longer on this computer; the test {unit}s per class:</p>"
        )
    )
    total = sum(counts.values()) or 1
    out.append(
        table(
            ["class", f"{unit}s", "share"],
            [[name, f"{n:,}", percent(n / total)] for name, n in counts.items()],
            numeric=(1, 2),
        )
    )
    if len(counts) <= 30:
        out.append(chart(figures.sized(ui_charts.class_counts_bar(counts)), "The smallest class in orange."))
    ratio = imbalance_ratio({k: v for k, v in counts.items() if v > 0})
    if ratio >= 1.5:
        out.append(
            f"<p>The classes are not balanced: the largest has {ratio:.1f} times as many {unit}s as the smallest. "
            "Accuracy then flatters the model; macro-F1 (every class counts the same) and the per-class scores below "
            "do not.</p>"
        )
    sizes = [(key.split("_")[0], m.get(key)) for key in ("train_examples", "validation_examples", "test_examples")]
    out.append(
        "<p>They were split per class into "
        + ", ".join(
            f"{int(n or 0):,} for {name}ing" if name == "train" else f"{int(n or 0):,} {name}" for name, n in sizes
        )
        + f" {unit}s. The test {unit}s were held out: the model never saw them while it learned, so they measure "
        "how it does on new ones.</p>"
    )
    cut, max_length = m.get("inputs_cut"), m.get("max_length")
    if isinstance(cut, int | float) and max_length:
        out.append(
            f"<p>Texts were read up to {max_length} tokens (pieces of words); {percent(cut)} of the training texts "
            "were longer and cut there.</p>"
        )
    if m.get("image_size"):
        out.append(f"<p>Pictures were resized to {m['image_size']}×{m['image_size']} pixels.</p>")
    out += [warning(w) for w in [*(m.get("data_warnings") or []), *(m.get("evaluation_warnings") or [])]]
    return "".join(out)


def model_section(f: RunFacts, chart: Charts, prefix: str) -> str:
    m, info = f.metrics, f.model_info
    strategy = STRATEGIES.get(str(m.get("strategy")))
    out = [heading(prefix, "model")]
    if info:
        out.append(
            f"<p><b>Pre-trained model:</b> {esc(info.title)} ({esc(info.family)}, {info.params_millions:g} million "
            f"parameters, licence {esc(info.licence)}). {esc(info.description)}</p>"
        )
    elif f.adaptation:  # a model adapted to the domain's texts first (engine.adapt)
        a = f.adaptation
        out.append(
            f"<p><b>Pre-trained model:</b> {esc(a['title'])}: {esc(a.get('base_model'))} taught the language of "
            f"{esc(a.get('data'))} first ({esc(a.get('method'))}, {a.get('steps', 0):,} steps; held-out perplexity "
            f"{a.get('perplexity_before', 0):.2f} before, {a.get('perplexity_after', 0):.2f} after).</p>"
        )
    else:
        out.append(f"<p><b>Pre-trained model:</b> {esc(m.get('model') or f.config.get('model'))}.</p>")
    source = pretrained_on(m.get("model") or f.config.get("model"))
    if source:
        out.append(f"<p>It learned from {esc(source)} before this run; that knowledge is what transfers.</p>")
    if strategy:
        out.append(f"<p><b>Strategy:</b> {esc(strategy.title)}. {esc(strategy.explanation)}</p>")
    out.append(f"<p>{esc(reuse_words(str(m.get('strategy')), m.get('trainable_params'), m.get('total_params')))}</p>")
    passes = m.get("passes")
    how = (
        "The classifier was fitted to convergence on features computed once."
        if strategy is not None and not strategy.uses_optimizer
        else f"Training made {passes:.1f} passes over the training data."
        if isinstance(passes, int | float)
        else ""
    )
    out.append(
        cards(
            [
                (
                    "Trainable parameters",
                    format_params(m.get("trainable_params")),
                    f"of {format_params(m.get('total_params'))}",
                ),
                ("Time to train", format_seconds(m.get("train_seconds")), str(m.get("device") or "")),
                *(
                    [("Passes", f"{passes:.1f}", "over the training data")]
                    if isinstance(passes, int | float) and strategy is not None and strategy.uses_optimizer
                    else []
                ),
            ]
        )
    )
    if how:
        out.append(f"<p>{esc(how)}</p>")
    if m.get("notes"):
        out.append("<h3>How this model was trained and chosen</h3>" + bullets(m["notes"]))
    if strategy is not None and strategy.uses_optimizer and f.events:
        out.append(chart(figures.sized(ui_charts.loss_curve(f.events))))
        out.append(chart(figures.sized(ui_charts.metric_curve(f.events))))
    return "".join(out)


def scores_section(f: RunFacts, chart: Charts, prefix: str) -> str:
    m = f.metrics
    out = [heading(prefix, "scores")]
    out.append(
        cards(
            [
                ("Accuracy", f"{m['accuracy']:.3f}", interval_words(m.get("accuracy_ci"))),
                ("Macro-F1", f"{m['macro_f1']:.3f}", interval_words(m.get("macro_f1_ci"))),
                ("Test examples", f"{int(m.get('test_examples') or 0):,}", "held out"),
            ]
        )
    )
    out.append(
        f"<p><b>Accuracy</b> is the share of test {f.task.unit}s labelled right. <b>Macro-F1</b> averages a score per "
        "class, so a class the model misses counts as much as a large one. The "
        f"<b>{CONFIDENCE:.0%} interval</b> is how far the score could move with another test set of the same size "
        "(bootstrap): two models whose intervals overlap may not really differ.</p>"
    )
    rows = [{"name": "this model", **{k: m.get(k) for k in ("accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci")}}]
    if f.scratch:
        rows.append({"name": "the same model from scratch", **f.scratch})
    if f.without_adaptation:
        rows.append({"name": "the same classifier without adaptation", **f.without_adaptation})
    rows += [{**r, "name": r.get("name") or k} for k, r in (m.get("baselines") or {}).items() if isinstance(r, Mapping)]
    rows = [r for r in rows if isinstance(r.get("accuracy"), int | float)]
    out.append("<h3>Better than what?</h3>")
    said = [baseline_summary(m), baseline_warning(m), classical_note(m, f.task.examples)]
    if f.scratch:
        said.insert(0, transfer_gain(m, f.scratch))
    if f.without_adaptation:
        said.insert(0, adaptation_gain(m, f.without_adaptation))
    said = [line for line in said if line]
    if not said:
        out.append(
            "<p class='muted'>This run has no baselines (it was trained before TransferLab measured them) and no "
            "“Prove it” twin trained from scratch.</p>"
        )
    out += [f"<p>{esc(line)}</p>" for line in said]
    table_rows = baseline_rows(m)
    if f.scratch:
        twin = side_by_side(m, f.scratch)
        table_rows = [table_rows[0], twin[1], *table_rows[1:]] if table_rows else twin
    if f.without_adaptation:
        pair = adaptation_rows(m, f.without_adaptation)
        table_rows = [table_rows[0], pair[1], *table_rows[1:]] if table_rows else pair
    if table_rows:
        out.append(
            table(
                ["model", "accuracy", "95% interval", "macro-F1", "95% interval", "time to train"],
                [
                    [
                        r.get("model") or r.get("start"),
                        r["accuracy"],
                        r["accuracy 95% interval"],
                        r["macro-F1"],
                        r["macro-F1 95% interval"],
                        r.get("time") or r.get("time to train"),
                    ]
                    for r in table_rows
                ],
                numeric=(1, 2, 3, 4, 5),
            )
        )
    if len(rows) > 1:
        out.append(chart(figures.scores_chart(rows), "Measured on the same test split."))
    return "".join(out)


def studies_section(f: RunFacts, chart: Charts, prefix: str) -> str:
    out = [heading(prefix, "studies")]
    if not f.curve and not f.sweep:
        out.append(
            "<p class='muted'>No learning curve or strategy sweep was run for this model (Results offers both: “How "
            "much labelled data do I need?” and the strategy sweep).</p>"
        )
    if f.curve:
        out.append("<h3>Learning curve: how much labelled data is enough?</h3>")
        if f.curve.get("summary"):
            out.append(f"<p>{esc(f.curve['summary'])}</p>")
        out.append(chart(figures.sized(study_charts.learning_curve_figure(f.curve, f.task.unit))))
        out.append(
            table(
                ["method", "share of the training set", "examples", "accuracy", "95% interval", "time to train"],
                [
                    [
                        p.get("method"),
                        percent(float(p.get("fraction") or 0)),
                        f"{int(p.get('examples') or 0):,}",
                        f"{p['accuracy']:.3f}" if isinstance(p.get("accuracy"), int | float) else "n/a",
                        interval_words(p.get("accuracy_ci")).replace("95% interval ", ""),
                        format_seconds(p.get("train_seconds")),
                    ]
                    for p in f.curve.get("points") or []
                    if isinstance(p, Mapping)
                ],
                numeric=(1, 2, 3),
            )
        )
    if f.sweep:
        out.append("<h3>Strategy sweep: which strategy for this data?</h3>")
        if f.sweep.get("summary"):
            out.append(f"<p>{esc(f.sweep['summary'])}</p>")
        out.append(chart(figures.sized(study_charts.sweep_figure(f.sweep))))
        out.append(
            table(
                ["strategy", "accuracy", "95% interval", "macro-F1", "time to train", "trainable parameters"],
                [
                    [
                        str(p.get("strategy")) + (" ★" if p.get("pareto") else ""),
                        f"{p['accuracy']:.3f}" if isinstance(p.get("accuracy"), int | float) else "n/a",
                        interval_words(p.get("accuracy_ci")).replace("95% interval ", ""),
                        f"{p['macro_f1']:.3f}" if isinstance(p.get("macro_f1"), int | float) else "n/a",
                        format_seconds(p.get("train_seconds")),
                        format_params(p.get("trainable_params")),
                    ]
                    for p in f.sweep.get("points") or []
                    if isinstance(p, Mapping)
                ],
                numeric=(1, 3, 4, 5),
            )
        )
    return "".join(out)


def errors_section(f: RunFacts, chart: Charts, prefix: str) -> str:
    m = f.metrics
    labels, matrix = m.get("labels") or [], m.get("confusion_matrix")
    out = [heading(prefix, "errors")]
    if matrix:
        out.append(
            chart(
                figures.sized(ui_charts.confusion_matrix_heatmap(labels, matrix)),
                "Rows: the true class; columns: what the model said. The diagonal is right; colour: share of the row.",
            )
        )
    per_class = m.get("per_class") or {}
    per_class = {k: per_class[k] for k in labels if k in per_class} | per_class
    if per_class:
        out.append(
            "<p><b>Precision</b>: of the test examples the model put in a class, the share that belong there. "
            "<b>Recall</b>: of a class's test examples, the share the model found.</p>"
        )
        out.append(
            table(
                ["class", "precision", "recall", "F1", "test examples"],
                [
                    [k, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", f"{v['support']:,}"]
                    for k, v in per_class.items()
                ],
                numeric=(1, 2, 3, 4),
            )
        )
        out.append(chart(figures.sized(ui_charts.per_class_bars(per_class))))
    if matrix:
        mistakes = top_confusions(labels, matrix)
        if mistakes:
            out.append(
                "<h3>Most frequent mistakes</h3>"
                + table(
                    ["true class", "predicted as", "test examples", "share of the true class"],
                    [[x["true"], x["predicted"], f"{x['count']:,}", f"{x['share']:.0%}"] for x in mistakes],
                    numeric=(2, 3),
                )
            )
        else:
            out.append("<p>No mistakes on the test split.</p>")
    return "".join(out)


def examples_section(f: RunFacts, prefix: str, explain: bool) -> str:
    out = [heading(prefix, "examples")]
    if f.predictions is None or f.predictions.empty:
        return out[0] + "<p class='muted'>The run's test predictions (predictions.csv) are missing.</p>"
    picture = "path" in f.predictions
    model_dir = f.run.model_dir if explain and f.run.model_dir.is_dir() else None
    body, explained = examples_html(f.predictions, model_dir, picture)
    if explained:
        out.append(
            "<p>Shading shows which words pushed the model toward the class it predicted (green) or away from it "
            "(red); the stronger the colour, the stronger the push.</p>"
            if not picture
            else "<p>Beside each picture, a heat map of the parts that weighed most in the prediction.</p>"
        )
    return "".join(out) + body


def limits_section(f: RunFacts, prefix: str) -> str:
    return heading(prefix, "limits") + bullets(limitations(f.metrics, f.config, f.task.unit))


def reproduce_section(f: RunFacts, prefix: str) -> str:
    m = f.metrics
    v = versions()
    rows = [
        ["seed", f.config.get("seed")],
        ["trained on", f"{m.get('device')} ({m.get('precision')})"],
        ["time to train", format_seconds(m.get("train_seconds"))],
        ["this computer", hardware()],
        ["TransferLab commit", git_commit() or "unknown (not a git checkout)"],
        *[[name, version] for name, version in v.items()],
        ["run folder", str(f.run.path)],
    ]
    config = json.dumps(f.config, indent=2, sort_keys=True, default=str)
    return (
        heading(prefix, "reproduce")
        + "<p>Train the same model again from the run's saved settings (same data, split and seed) with:</p>"
        + f"<pre><code>{esc(train_command(f.run))}</code></pre>"
        + "<p>Scores of a retrained model match to within the intervals above; on another computer or library "
        "version, the last digits can differ. Library versions are those installed where this report was made.</p>"
        + table(["", ""], rows)
        + f"<h3>Settings (config.json)</h3><pre><code>{esc(config)}</code></pre>"
    )


def chapter(f: RunFacts, chart: Charts, prefix: str = "", explain: bool = True) -> str:
    """One run's whole chapter: a title, a summary, and every section of SECTIONS."""
    note = f"<p class='muted'>Note: {esc(f.note)}</p>" if f.note else ""
    parts = [
        f"<p class='lead'>{esc(summary(f))}</p>{note}",
        data_section(f, chart, prefix),
        model_section(f, chart, prefix),
        scores_section(f, chart, prefix),
        studies_section(f, chart, prefix),
        errors_section(f, chart, prefix),
        examples_section(f, prefix, explain),
        limits_section(f, prefix),
        reproduce_section(f, prefix),
    ]
    return "".join(parts)
