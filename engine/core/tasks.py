"""The kinds of data TransferLab learns from ("tasks"): texts and pictures.

Everything that differs between tasks is reached through one lookup in this registry, never an
``if task == ...``: how to tell the task's data from a path, which settings it reads, its data
loader and summary, its torch implementation (``engine.tasks``: model, batches, saving), its cost
model for the estimate and its strategy recommendation. The heavy parts are named as
``"module:attribute"`` and imported on first use, so this module stays torch-free.

A new task (say, audio) is one package under ``engine/tasks/``, its data module under
``engine/data/``, its estimate under ``engine/estimate/``, and one ``register(TaskInfo(...))``
below.

>>> task_of_data("photos.zip").name, task_of_data("reviews.csv").name
('image', 'text')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.catalog import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from engine.core.errors import ConfigError
from engine.core.formats import is_image_data


def load_attribute(ref: str) -> Any:
    """``"package.module:name"`` -> the object (imported on first use)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class TaskInfo:
    name: str  # "text", "image": what config.json, metrics.json and transferlab.json record
    title: str  # "Text", "Image" (model cards: "Text classifier")
    examples: str  # the data in words, plural: "texts", "pictures"
    unit: str  # one example in words: "example", "picture"
    default_model: str
    detects: Callable[[str | Path], bool]  # does this path hold this task's data?
    loader: str  # (config, path, label_names=None) -> a LabeledDataset
    describer: str  # (dataset) -> a plain summary dict for the Data page
    input_reader: str  # (path, text_column) -> (input columns as a DataFrame, model inputs, skipped files)
    implementation: str  # the torch side: an engine.tasks.base.Task subclass
    estimator: str  # (config, n_train, num_labels, mean_tokens) -> engine.estimate.Estimate
    recommender: str  # (n_examples, has_gpu) -> (strategy, why)
    model_kind: str  # "a text model", "an image model"
    model_hint: str  # the models to suggest when the user picked one of another task
    input_help: str  # what to give a model of this task to predict on
    # (train, test, seed) -> engine.training.baselines.ClassicalFit: the classical model a run's scores are
    # read against (texts: TF-IDF + logistic regression; pictures: logistic regression on pixels)
    baseline: str
    # (config, dataset) -> sentences on what the settings do to the inputs, shown before training
    # (texts: how many the max length cuts); "" when the task has none
    input_notes: str = ""
    # Its models can first be taught the domain's language from unlabeled data (engine.adapt: text models)
    adapts: bool = False

    def load(self, name: str) -> Any:
        return load_attribute(getattr(self, name))

    def wrong_model(self, model: str, owner: TaskInfo | None) -> ConfigError:
        """The error for a model of another task (``owner``): an image model given texts, or the other way round."""
        kind = owner.model_kind if owner is not None else f"not {self.model_kind}"
        return ConfigError(
            f"'{model}' is {kind}, but the training data are {self.examples}. "
            f"Choose {self.model_kind}: {self.model_hint}."
        )


TASKS: dict[str, TaskInfo] = {}


def register(task: TaskInfo) -> TaskInfo:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> TaskInfo:
    if name not in TASKS:
        raise ConfigError(f"Unknown kind of data '{name}'. TransferLab knows: {', '.join(TASKS)}.")
    return TASKS[name]


def task_of_data(path: str | Path) -> TaskInfo:
    """The task whose data ``path`` holds (the first registered task that claims it; text takes the rest)."""
    for task in TASKS.values():
        if task.detects(path):
            return task
    return TASKS["text"]


register(
    TaskInfo(
        name="image",
        title="Image",
        examples="pictures",
        unit="picture",
        default_model=DEFAULT_IMAGE_MODEL,
        detects=is_image_data,
        loader="engine.data.images:load_for_config",
        describer="engine.data.images:describe_images",
        input_reader="engine.data.images:read_inputs",
        implementation="engine.tasks.image.task:ImageTask",
        estimator="engine.estimate.image:estimate_images",
        recommender="engine.estimate.recommend:recommend_for_pictures",
        model_kind="an image model",
        model_hint="efficientnet-lite0 (works offline) or a Hugging Face image-classification model such as "
        "microsoft/resnet-50",
        input_help="a ZIP file or a folder of JPEG, PNG, BMP, WebP or GIF pictures",
        baseline="engine.training.baselines:image_baseline",
    )
)
register(
    TaskInfo(
        name="text",
        title="Text",
        examples="texts",
        unit="example",
        default_model=DEFAULT_TEXT_MODEL,
        detects=lambda path: not is_image_data(path),
        loader="engine.data.large:load_for_config",
        describer="engine.data.text:describe",
        input_reader="engine.data.text:read_inputs",
        implementation="engine.tasks.text.task:TextTask",
        estimator="engine.estimate.text:estimate_texts",
        recommender="engine.estimate.recommend:recommend_for_texts",
        model_kind="a text model",
        model_hint="minilm (works offline), smollm2, or a Hugging Face model such as bert-base-uncased",
        input_help="a table of texts (CSV, TSV, JSON/JSONL, Parquet or Excel)",
        baseline="engine.training.baselines:text_baseline",
        input_notes="engine.estimate.cut:input_notes",
        adapts=True,
    )
)
