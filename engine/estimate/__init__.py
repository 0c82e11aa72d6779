"""Before training: how many parameters train, how much memory it needs and roughly how long it takes.

Torch-free, so the dashboard shows it before anything is loaded. Each task has its cost model
(``engine.estimate.text``, ``engine.estimate.image``), found through the task registry; the
strategy registry says what each strategy trains and what its backward pass costs.

>>> from engine.core.config import TrainConfig
>>> e = estimate(TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora"), n_train=4117)
>>> e.trainable_params
74498
>>> print(e.summary())  # doctest: +SKIP
An estimate: about 1.3 GB of memory and about 8 minutes on CPU (2 cores).

It is an estimate: within a factor of about 1.5 on a CPU like the one it was calibrated on,
rougher elsewhere.
"""

from __future__ import annotations

from typing import Any

from engine.core.presets import DEFAULT_PRESET
from engine.core.tasks import get_task
from engine.estimate.common import Estimate

__all__ = ["Estimate", "estimate", "recommend_strategy"]


def estimate(config: Any, n_train: int, mean_tokens: float | None = None, num_labels: int = 2) -> Estimate:
    """Trainable parameters, memory and time of training ``config`` on ``n_train`` examples.

    ``mean_tokens`` (texts) is the average token count after cutting at max length (default: 80%
    of the max length). An estimate, not a measurement.
    """
    return get_task(config.task).load("estimator")(config, n_train, num_labels, mean_tokens)


def recommend_strategy(
    n_examples: int, has_gpu: bool, task: str = "text", n_classes: int = 2, preset: str = DEFAULT_PRESET
) -> tuple[str, str]:
    """(strategy, one plain sentence why) from the dataset size, the number of classes, the hardware, the
    kind of data and the preset it will train with (its epochs).

    >>> recommend_strategy(150, has_gpu=False)[0]  # 75 per class
    'setfit'
    >>> recommend_strategy(1000, has_gpu=False, task="image")[0]
    'partial'
    """
    return get_task(task).load("recommender")(int(n_examples), has_gpu, max(1, int(n_classes)), preset)
