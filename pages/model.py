"""Model & strategy: pick a foundation model, how much of it to retrain, and the settings; see the cost first."""

from __future__ import annotations

import json

import streamlit as st

from engine.core import catalog
from engine.core.adapt_jobs import adaptation_of
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError, TransferLabError
from engine.core.hardware import gpu_names, has_gpu
from engine.core.presets import DEFAULT_PRESET, PRESETS, default_settings
from engine.core.resolve import model_problem as engine_model_problem
from engine.core.strategies import STRATEGIES, strategies_for
from engine.core.tasks import TASKS, get_task
from engine.core.words import markdown_text as md
from engine.estimate import Estimate, estimate, recommend_strategy
from engine.estimate.text import mean_tokens_from_chars
from ui import format as fmt
from ui import gate
from ui.adapt import adaptation_section, adapted_model_cards
from ui.memo import memo
from ui.router import ensure_router
from ui.state import DATA_DEFAULTS, MODEL_DEFAULTS, build_config, match_model_to_task, training_examples
from ui.widgets import init_state, show_error

LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2]
MAX_LENGTHS = ["Automatic", 32, 64, 128, 256, 512]
IMAGE_SIZES = ["Model's own", 32, 64, 96, 128, 160, 192, 224, 256, 320, 384]
BATCH_SIZES = [4, 8, 16, 32, 64]
LORA_RANKS = [2, 4, 8, 16, 32, 64]
EXAMPLE_ID = {"text": "bert-base-uncased", "image": "microsoft/resnet-50"}  # a hub id to show in the field's label

ensure_router()
init_state({**DATA_DEFAULTS, **MODEL_DEFAULTS})
# Pictures chosen on the Data page while a text model was selected (or the other way round).
match_model_to_task(st.session_state)


# Each choice is kept by its widget's callback, which runs as soon as the browser reports the change:
# a user who changes a setting and at once opens another page interrupts this page's run, and a
# value copied only further down the script would be lost (the run then trained the old strategy).
def use_model(name: str) -> None:
    st.session_state.model = name
    st.session_state.w_model = name


def keep_model() -> None:
    st.session_state.model = str(st.session_state.w_model).strip()


def _or_none(word: str):
    return lambda value: None if value == word or value is None else int(value)


# Advanced widgets: (the TrainConfig field each sets, widget value -> setting)
WIDGET_FIELDS = {
    "w_epochs": ("epochs", int),
    "w_batch_size": ("batch_size", int),
    "w_learning_rate": ("learning_rate", float),
    "w_freeze_layers": ("freeze_layers", _or_none("")),
    "w_lora_r": ("lora_r", int),
    "w_max_length": ("max_length", _or_none("Automatic")),
    "w_image_size": ("image_size", _or_none("Model's own")),
    "w_augment": ("augment", bool),
    "w_devices": ("devices", int),
}


def keep_setting(key: str) -> None:
    field, convert = WIDGET_FIELDS[key]
    st.session_state.settings = {**st.session_state.settings, field: convert(st.session_state[key])}


def widget_values(s: dict, task: str) -> dict:
    values = {
        "w_epochs": s["epochs"],
        "w_batch_size": s["batch_size"],
        "w_learning_rate": s["learning_rate"],
        "w_freeze_layers": s["freeze_layers"],
        "w_lora_r": s["lora_r"],
        "w_devices": s.get("devices", 1),
    }
    return values | TASK_WIDGETS[task][0](s)


def apply_defaults(task: str, strategy: str, preset: str) -> None:
    """The preset's settings for this strategy and task, in the settings and on the widgets (a browser
    sends back the value it shows, so the widgets must be overwritten, not dropped)."""
    state = st.session_state
    # The examples count too: the Quick look preset gives fine-tuning small data more epochs.
    state.settings_for = (task, strategy, preset, training_examples(state, strategy))
    state.preset = preset
    state.settings = default_settings(strategy, preset, task, training_examples(state, strategy))
    for key, value in widget_values(state.settings, task).items():
        state[key] = value


def keep_strategy() -> None:
    state = st.session_state
    state.strategy = state.w_strategy
    apply_defaults(state.data_task or "text", state.strategy, state.preset)


def keep_preset() -> None:
    state = st.session_state
    if state.w_preset:
        apply_defaults(state.data_task or "text", state.strategy or "lora", state.w_preset)
    else:  # clicking the selected segment unselects it: keep the preset, and show it selected
        state.w_preset = state.preset


@st.cache_data(ttl=60, show_spinner="Looking for the model…")
def model_problem(name: str) -> str | None:
    return gate.model_problem_when_shared(name) or engine_model_problem(name)


@st.cache_data(max_entries=32, show_spinner="Estimating…")
def cached_estimate(config_json: str, n_train: int, num_labels: int, mean_tokens: float | None) -> Estimate:
    return estimate(TrainConfig.from_dict(json.loads(config_json)), n_train, mean_tokens, num_labels=num_labels)


@memo("Counting the tokens of your texts…")
def input_notes(task: str, config_json: str) -> list[str]:
    """What the settings do to the training inputs (texts: how many the max length cuts)."""
    info = get_task(task)
    if not info.input_notes:
        return []
    config = TrainConfig.from_dict(json.loads(config_json))
    return info.load("input_notes")(config, info.load("loader")(config))


@st.cache_data(ttl=300, show_spinner=False)
def gpu_present() -> bool:
    return has_gpu()


@st.cache_data(ttl=300, show_spinner=False)
def gpu_count() -> int:
    return len(gpu_names())


def model_cards(task: str, usable: bool = True) -> None:
    """The catalog's models for ``task``; ``usable=False`` shows them without a button (the other kind of data)."""
    models = catalog.catalog(task)
    for start in range(0, len(models), 3):
        for col, info in zip(st.columns(3), models[start : start + 3], strict=False):
            with col.container(border=True):
                st.markdown(f"**{info.title}**")
                st.caption(f"{info.family} · {info.params_millions:,.1f}M parameters · {info.licence}")
                if info.offline:
                    st.badge("works offline", icon=":material/offline_pin:", color="green")
                else:
                    st.badge("needs the Hugging Face Hub", icon=":material/cloud:", color="gray")
                st.caption(info.description)
                if not usable:
                    continue
                chosen = st.session_state.model == info.name
                st.button(
                    "Selected" if chosen else "Use this model",
                    key=f"use:{info.name}",
                    on_click=use_model,
                    args=(info.name,),
                    disabled=chosen,
                    type="primary" if chosen else "secondary",
                )


def choose_model(task: str) -> None:
    st.subheader("1. Foundation model")
    words = get_task(task).examples
    if st.session_state.data_path:
        st.caption(f"Models for {words}, since your data are {words}.")
    else:
        st.caption(f"Models for {words}. Choose other data on the Data page to train a model for other data.")
    note = st.session_state.model_note
    if note and note[0] == st.session_state.model:
        st.info(note[1], icon=":material/swap_horiz:")
    model_cards(task)
    if get_task(task).adapts:
        adapted_model_cards()
    for other in (t for t in TASKS.values() if t.name != task):
        with st.expander(f"Models for {other.examples}"):
            st.caption(f"These read {other.examples}: choose {other.examples} on the Data page to train one of them.")
            model_cards(other.name, usable=False)
    if "w_model" not in st.session_state:
        st.session_state.w_model = st.session_state.model
    name = st.text_input(
        f"Model: a name from the cards, a Hugging Face id (e.g. {EXAMPLE_ID[task]}) or a local model folder",
        key="w_model",
        on_change=keep_model,
    ).strip()
    st.session_state.model = name
    if not name:
        st.warning("Type a model name or pick a card.")
        return
    info = catalog.find(name)
    if info is not None and info.task != task and st.session_state.data_path:
        st.error(
            f"{info.title} reads {get_task(info.task).examples}, but your data are {words}. "
            f"Pick one of the models for {words} above.",
            icon=":material/error:",
        )
        return
    problem = model_problem(name)
    if problem:
        st.error(md(problem), icon=":material/error:")
    else:
        adaptation = adaptation_of(name)
        st.caption(f"Using {md(adaptation['title'] if adaptation else name)}.")


def choose_strategy(summary: dict | None, task: str) -> str:
    st.subheader("2. How much of the model to retrain")
    recommended = None
    if summary:
        recommended, why = recommend_strategy(
            summary["rows"], gpu_present(), task, len(summary["classes"]), st.session_state.preset
        )
        st.info(f"Recommended for your data: **{STRATEGIES[recommended].title}**. {why}", icon=":material/lightbulb:")
    else:
        st.caption("Choose data on the Data page to get a recommendation for it.")
    options = strategies_for(task)
    if st.session_state.strategy not in options:  # not chosen yet, or chosen for the other kind of data
        st.session_state.strategy = recommended or options[0]
    strategy = st.radio(
        "Strategy",
        options,
        index=options.index(st.session_state.strategy),
        format_func=lambda s: STRATEGIES[s].title + (" (recommended)" if s == recommended else ""),
        captions=[STRATEGIES[s].explanation for s in options],
        key="w_strategy",
        on_change=keep_strategy,
    )
    st.session_state.strategy = strategy
    return strategy


def text_widget_values(s: dict) -> dict:
    return {"w_max_length": s["max_length"] if s["max_length"] in MAX_LENGTHS else "Automatic"}


def text_widgets(s: dict, column) -> None:
    length = column.select_slider(
        "Max length (tokens per text)",
        MAX_LENGTHS,
        key="w_max_length",
        on_change=keep_setting,
        args=("w_max_length",),
        help="Longer texts are cut. Automatic: chosen from your texts' lengths (at most 128 on a CPU).",
    )
    s["max_length"] = None if length == "Automatic" else int(length)


def image_widget_values(s: dict) -> dict:
    return {
        "w_image_size": s["image_size"] if s["image_size"] in IMAGE_SIZES else "Model's own",
        "w_augment": s["augment"],
    }


def image_widgets(s: dict, column) -> None:
    size = column.select_slider(
        "Image size (pixels per side)",
        IMAGE_SIZES,
        key="w_image_size",
        on_change=keep_setting,
        args=("w_image_size",),
        help="Pictures are scaled to this size before the model sees them. Smaller trains faster; "
        "the model's own size (224 for most) is usually the most accurate.",
    )
    s["image_size"] = None if size == "Model's own" else int(size)
    s["augment"] = column.checkbox(
        "Augment the training pictures",
        key="w_augment",
        on_change=keep_setting,
        args=("w_augment",),
        help="Random crops and horizontal flips of the training pictures, so the model sees each one a "
        "little differently every epoch. The frozen strategy computes its features once, without them.",
    )


# The Advanced settings only one kind of data has: (widget values from the settings, the widgets).
TASK_WIDGETS = {"text": (text_widget_values, text_widgets), "image": (image_widget_values, image_widgets)}


def choose_settings(strategy: str, task: str) -> None:
    st.subheader("3. Settings")
    presets = list(PRESETS)
    preset = st.segmented_control(
        "Preset",
        presets,
        default=st.session_state.preset if st.session_state.preset in presets else DEFAULT_PRESET,
        key="w_preset",
        on_change=keep_preset,
    )
    preset = preset or st.session_state.preset  # clicking the selected segment unselects it
    st.caption(PRESETS[preset]["help"])
    made_for = (task, strategy, preset, training_examples(st.session_state, strategy))
    if st.session_state.get("settings_for") != made_for:  # e.g. other data since
        apply_defaults(task, strategy, preset)
    s = dict(st.session_state.settings)
    for key, value in widget_values(s, task).items():
        st.session_state.setdefault(key, value)  # a restored setup: the widgets show its settings

    with st.expander("Advanced"):
        left, right = st.columns(2)
        if STRATEGIES[strategy].uses_optimizer:
            s["epochs"] = left.number_input(
                "Epochs (passes over the training data)",
                min_value=1,
                max_value=200,
                key="w_epochs",
                on_change=keep_setting,
                args=("w_epochs",),
            )
            s["batch_size"] = right.select_slider(
                "Batch size",
                BATCH_SIZES,
                key="w_batch_size",
                on_change=keep_setting,
                args=("w_batch_size",),
                help="Smaller needs less memory.",
            )
            rates = sorted({*LEARNING_RATES, s["learning_rate"]})
            s["learning_rate"] = left.select_slider(
                "Learning rate",
                rates,
                format_func=lambda v: f"{v:.0e}".replace("e-0", "e-"),
                key="w_learning_rate",
                on_change=keep_setting,
                args=("w_learning_rate",),
                help=f"The default for this strategy is {STRATEGIES[strategy].learning_rate(task):g}.",
            )
        else:
            st.caption(
                "No epochs or learning rate to set: the classifier on the frozen model is fitted to convergence, "
                "its regularisation chosen by cross-validation on your training data."
            )
        TASK_WIDGETS[task][1](s, right)
        if STRATEGIES[strategy].trains == "top":
            s["freeze_layers"] = left.number_input(
                "Frozen bottom layers",
                min_value=0,
                max_value=100,
                placeholder="half of the layers",
                key="w_freeze_layers",
                on_change=keep_setting,
                args=("w_freeze_layers",),
            )
        if STRATEGIES[strategy].trains == "adapters":
            s["lora_r"] = left.select_slider(
                "LoRA rank",
                LORA_RANKS,
                key="w_lora_r",
                on_change=keep_setting,
                args=("w_lora_r",),
                help="Higher: more capacity, more parameters.",
            )
        if gpu_count() > 1:
            s["devices"] = left.number_input(
                "GPUs to use",
                min_value=1,
                max_value=gpu_count(),
                key="w_devices",
                on_change=keep_setting,
                args=("w_devices",),
                help="Above 1 the run trains on that many GPUs at once (PyTorch DDP through torchrun): each takes an "
                "equal share of every batch, so the batch size must divide evenly among them. The queue gives the "
                "run its GPUs when they are free; other runs use the rest. The time estimate below is for one GPU: how "
                "much faster N GPUs are depends on the model and the data, and was not measured here.",
            )
    st.session_state.settings = s


def show_estimate(summary: dict | None, task: str) -> None:
    st.subheader("Before you train")
    if not summary:
        st.info("Choose data on the Data page to see the trainable parameters, memory and time this will take.")
        return
    if model_problem(st.session_state.model):
        return
    info = catalog.find(st.session_state.model)
    if info is not None and info.task != task:
        return  # choose_model said why
    try:
        config = build_config(st.session_state)
    except TransferLabError as exc:
        show_error(exc)
        return
    lengths = summary.get("text_length")  # texts only
    mean_tokens = mean_tokens_from_chars(lengths["median"]) if lengths else None
    n_train = training_examples(st.session_state, config.strategy)
    try:
        est = cached_estimate(json.dumps(config.to_dict()), n_train, len(summary["classes"]), mean_tokens)
    except ConfigError as exc:  # a setting this model cannot train with
        show_error(exc)
        return
    except TransferLabError as exc:  # the model's size is not known yet (not downloaded, or its probe failed)
        st.info(f"No estimate for this model yet: {md(exc)}", icon=":material/info:")
        st.page_link("pages/train.py", label="Next: start training", icon=":material/arrow_forward:")
        return
    try:
        for note in input_notes(task, json.dumps(config.to_dict())):
            st.info(md(note), icon=":material/content_cut:")
    except TransferLabError as exc:
        show_error(exc)
    cols = st.columns(3)
    cols[0].metric(
        "Trainable parameters",
        fmt.params(est.trainable_params),
        help=f"{fmt.share(est.trainable_params / max(est.total_params, 1))} of {fmt.params(est.total_params)}.",
    )
    cols[1].metric("Memory needed", fmt.size(est.memory_bytes))
    cols[2].metric("Estimated time", fmt.seconds(est.seconds))
    note = " The model is not on this computer: its size comes from the catalog." if est.approximate_params else ""
    unit = get_task(task).unit
    pooled = (
        ""
        if STRATEGIES[config.strategy].uses_validation or not summary.get("n_validation")
        else f" (the {summary['n_train']:,} training and {summary['n_validation']:,} validation {unit}s of the Data "
        "page: this strategy chooses its settings by cross-validation, so it learns from both)"
    )
    st.caption(f"Estimates for {n_train:,} training {unit}s{pooled} on {est.device}; the real time can differ.{note}")
    if not est.fits:
        st.error(est.warning or "This will probably not fit in memory.", icon=":material/memory:")
    elif est.warning:
        st.warning(est.warning)
    st.page_link("pages/train.py", label="Next: start training", icon=":material/arrow_forward:")


st.title("Model & strategy")
summary = st.session_state.data_summary
task = st.session_state.data_task
choose_model(task)
adaptation_section(get_task(task).adapts)
strategy = choose_strategy(summary, task)
choose_settings(strategy, task)
show_estimate(summary, task)
