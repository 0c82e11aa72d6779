"""Why the model said that, on the pages: a text's words shaded by their weight toward a class, a heat map
beside a picture. The numbers come from ``engine.explain`` in the model's own process
(:class:`engine.core.predictor.PredictorProcess`), the shading from ``engine.core.explanations`` (the same
as in the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from engine.core.errors import TransferLabError
from engine.core.explanations import (
    AWAY_COLOUR,
    EXPLAIN_MAX_TOKENS,
    EXPLAINED_MISTAKES,
    TOWARD_COLOUR,
    highlight_html,
    word_summary,
)
from engine.core.predictor import PredictorProcess
from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md
from ui.gallery import thumbnail
from ui.widgets import show_error

HOW_TEXT = (
    "Each word was deleted in turn and the model asked again: a green word, once deleted, lowers the "
    "probability of the class (it pushed toward it), a red one raises it. The darker, the stronger. Point at a "
    "word for its weight: the percentage points of the class's probability it accounts for."
)
HOW_PICTURE = (
    "Each part of the picture was hidden in turn and the model asked again: the redder a place, the more hiding "
    "it lowers the probability of the class, so the more the prediction relies on it."
)
TEXT_STYLE = "line-height:1.9;padding:0.6rem 0.8rem;border:1px solid rgba(128,128,128,0.35);border-radius:0.5rem"


# One loaded model per run, in its own process (the server never loads torch), shared by every session and
# page: it is only read. An evicted one's process ends with it.
@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def load_predictor(run_path: str, created_at: float | None) -> PredictorProcess:
    """The run's model, warm. ``created_at`` tells apart a run deleted and re-created under the same name."""
    return PredictorProcess(RunDir(run_path).trained_model())


def legend() -> str:
    return (
        f'<span style="background:rgba({TOWARD_COLOUR},0.5);padding:0 0.3rem;border-radius:3px">toward</span> '
        f'<span style="background:rgba({AWAY_COLOUR},0.5);padding:0 0.3rem;border-radius:3px">away from</span> '
    )


def show_text_explanation(explanation: dict[str, Any], labels: Sequence[str], key: str, default: str | None = None):
    """The words of ``explanation`` (``engine.explain.explain_texts``'s dict) shaded toward a class the user picks
    (default: ``default``, else the predicted class), with the strongest words in words."""
    words = explanation.get("tokens") or []
    if not words:
        st.caption("No words to explain in this text.")
        return
    labels = list(labels)
    first = default if default in labels else explanation.get("label")
    index = labels.index(first) if first in labels else 0
    label = (
        st.selectbox("Words toward the class", labels, index=index, key=key, format_func=md)
        if len(labels) > 2
        else st.radio("Words toward the class", labels, index=index, key=key, format_func=md, horizontal=True)
    )
    st.html(
        f'<div style="{TEXT_STYLE}">{highlight_html(explanation.get("text", ""), words, label)}</div>'
        f'<div style="font-size:0.8rem;opacity:0.75;margin-top:0.3rem">{legend()}</div>'
    )
    st.caption(md(word_summary(words, label)))
    explained_to = max((int(w["end"]) for w in words), default=0)
    if len(str(explanation.get("text", "")).rstrip()) > explained_to + 1:
        st.caption(
            f"Only the start of this text is explained: as far as the model reads, at most {EXPLAIN_MAX_TOKENS} "
            "word pieces."
        )
    st.caption(HOW_TEXT)


def show_picture(column, path: str | Path, caption: str, side: int) -> None:
    """A picture (or a heat map) in ``column`` at most ``side`` pixels, or a line saying it is gone."""
    shown = thumbnail(str(path), side)
    if shown is None:
        column.caption(f"{md(caption)}: the picture is no longer on this computer.")
    else:
        # One size for a picture and its heat maps (a small picture enlarged to it); never wider than the column.
        column.image(shown, caption=caption, width=side, output_format="PNG")


def heatmap_path(run_path: str, picture: str | Path, target: str | None) -> Path:
    """Where a picture's heat map is kept: in the run's ``explanations`` folder (as the CLI writes it)."""
    import hashlib

    digest = hashlib.sha1(f"{Path(picture).resolve()}|{target}".encode()).hexdigest()[:12]
    return RunDir(run_path).path / "explanations" / f"{Path(picture).stem[:40]}-{digest}.png"


def _mistake_name(row: dict[str, Any], column: str) -> str:
    shown = str(row.get("file") or row.get(column, "")).replace("\n", " ")
    shown = shown if len(shown) <= 70 else shown[:69] + "…"
    return f"{shown}  ·  true '{row['true_label']}' → predicted '{row['predicted_label']}' ({row['confidence']:.0%})"


def explain_mistakes(run: RunDir, wrong, labels: Sequence[str], picture_side: int) -> None:
    """Results: pick one of the most confident mistakes and see why: its words toward the predicted and the
    true class, or where in the picture the model saw each. Explained on request (the model is loaded then),
    and kept for the session."""
    top = wrong.head(EXPLAINED_MISTAKES).to_dict("records")
    if not top:
        return
    st.markdown("##### Why these mistakes")
    column = "path" if "path" in wrong else wrong.columns[0]
    picked = st.selectbox(
        f"One of the {len(top)} most confident mistakes",
        range(len(top)),
        format_func=lambda i: _mistake_name(top[i], column),
        key="w_mistake",
    )
    row = top[picked]
    found = st.session_state.setdefault("mistake_explanations", {})
    key = (str(run.path), str(row[column]), str(row["predicted_label"]))
    if key not in found and st.session_state.get("mistake_asked") != key:
        # A callback, so the request outlives a rerun that comes before the page gets to it.
        st.button(
            "Explain this mistake",
            icon=":material/psychology:",
            key="explain_mistake",
            on_click=st.session_state.__setitem__,
            args=("mistake_asked", key),
        )
        st.caption("The model is asked again with parts of the example left out, to see what it relied on.")
        return
    if key not in found:
        try:
            predictor = load_predictor(str(run.path), run.status().get("created_at"))
            with st.spinner("Explaining…"):
                if column == "path":
                    found[key] = {
                        target: predictor.explain_image(row["path"], heatmap_path(str(run.path), row["path"], target))
                        for target in (row["predicted_label"], row["true_label"])
                    }
                else:
                    found[key] = predictor.explain_texts([str(row[column])])[0]
        except TransferLabError as exc:
            st.session_state.mistake_asked = None  # the button again, to retry
            show_error(exc)
            return
    explanation = found[key]
    if column == "path":
        source, heat_predicted, heat_true = st.columns(3, gap="small")
        show_picture(source, row["path"], str(row.get("file") or Path(row["path"]).name), picture_side)
        show_picture(
            heat_predicted,
            explanation[row["predicted_label"]]["heatmap"],
            f"Where it saw '{row['predicted_label']}' (predicted)",
            picture_side,
        )
        show_picture(
            heat_true,
            explanation[row["true_label"]]["heatmap"],
            f"Where it saw '{row['true_label']}' (true)",
            picture_side,
        )
        st.caption(HOW_PICTURE)
    else:
        st.caption(
            md(
                f"Shown toward '{row['predicted_label']}', what it predicted; pick '{row['true_label']}', the true "
                "class, to see which words spoke for it."
            )
        )
        show_text_explanation(explanation, labels, key="w_mistake_why", default=row["predicted_label"])
