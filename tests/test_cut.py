"""Cut texts are reported before training (Model page) with the counts training uses, and after it (metrics)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import make_rows, write_csv
from streamlit.testing.v1 import AppTest

from engine.core.config import TrainConfig
from engine.core.policy import choose_max_length
from engine.estimate.cut import SAMPLE, cut_report, token_counts

ROOT = Path(__file__).resolve().parent.parent
WORDS = "the parcel arrived late and the box was damaged so I want a refund for my order please".split()


def texts(n: int, seed: int = 0, most_words: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, most_words))) for _ in range(n)]


def test_counts_are_the_ones_training_uses(tiny_bert):
    from engine.tasks.text.model import load_tokenizer
    from engine.tasks.text.task import token_lengths

    sample = texts(200)
    counts, exact = token_counts(str(tiny_bert), sample)
    assert exact and counts == token_lengths(load_tokenizer(str(tiny_bert)), sample)


@pytest.mark.parametrize("max_length", [None, 16, 32])
def test_the_share_cut_and_the_automatic_length_match_training(tiny_bert, max_length):
    from transformers import AutoConfig

    from engine.tasks.text.model import load_tokenizer
    from engine.tasks.text.task import model_token_limit, token_lengths

    sample = texts(300)
    tokenizer = load_tokenizer(str(tiny_bert))
    lengths = token_lengths(tokenizer, sample)
    limit = model_token_limit(AutoConfig.from_pretrained(tiny_bert), tokenizer)  # as training computes it
    chosen, _ = choose_max_length(max_length, lengths, limit, "cpu")
    report = cut_report(str(tiny_bert), sample, max_length, 512)
    assert report.max_length == chosen and report.automatic == (max_length is None)
    assert report.share_cut == pytest.approx(sum(n > chosen for n in lengths) / len(lengths))
    assert report.counted == 300


def test_the_sentence_says_how_many_are_cut_and_suggests_a_length(tiny_bert):
    report = cut_report(str(tiny_bert), texts(300, most_words=25), 16, 512)
    words = report.sentence()
    assert f"{report.share_cut:.0%} of your training texts are longer than 16 tokens" in words
    assert report.suggestion == 64 and "64 keeps 95 in 100 whole" in words
    # Longer than the model reads (its tokenizer's limit is 64): the suggestion is that limit, and it says so.
    longer = cut_report(str(tiny_bert), texts(300), 16, 512)
    assert longer.suggestion == 64 and "64 is the most this model reads" in longer.sentence()
    assert cut_report(str(tiny_bert), ["short one"] * 5, 16, 512).sentence().startswith("Every text fits")


def test_large_files_are_sampled(tiny_bert):
    assert cut_report(str(tiny_bert), texts(SAMPLE + 500), None, 512).counted == SAMPLE


def test_a_sample_with_no_text_cut_does_not_promise_that_none_is(tiny_bert):
    """The bug: "Every text fits ...: none is cut" from 1,000 sampled texts, above a run that cut 0.1%."""
    fits = cut_report(str(tiny_bert), ["short one"] * (SAMPLE + 500), 16, 512)
    assert fits.sampled and fits.total == SAMPLE + 500
    assert fits.sentence().startswith(f"None of {SAMPLE:,} texts sampled from your {SAMPLE + 500:,} training texts")
    assert "none is cut" not in fits.sentence()
    some = cut_report(str(tiny_bert), texts(SAMPLE + 500, most_words=25), 16, 512)
    assert some.share_cut > 0 and "About " in some.sentence()  # a share of a sample


def test_without_a_tokenizer_file_the_counts_are_guessed_and_it_says_so(tmp_path, tiny_bert):
    folder = tmp_path / "model"
    folder.mkdir()
    for f in tiny_bert.iterdir():
        if f.name != "tokenizer.json" and f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    report = cut_report(str(folder), texts(50), 8, 512)
    assert not report.exact and "Counted from the characters" in report.sentence()


def test_the_model_page_says_how_many_texts_the_max_length_cuts(workspace, tmp_path, tiny_bert):
    long_rows = [(" ".join([text] * 8), label) for text, label in make_rows(10)]
    csv = write_csv(tmp_path / "long.csv", long_rows)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.radio(key="w_data_source").set_value("upload").run()
    at.file_uploader[0].set_value(("long.csv", csv.read_bytes(), "text/csv")).run()
    at.switch_page("pages/model.py").run()
    at.text_input(key="w_model").set_value(str(tiny_bert)).run()
    at.select_slider(key="w_max_length").set_value(32).run()
    assert not at.exception, [e.value for e in at.exception]
    [cut] = [i.value for i in at.info if "longer than 32 tokens" in i.value]
    assert cut.startswith("100% of your training texts")
    config = TrainConfig(data=str(csv), model=str(tiny_bert), strategy="frozen", max_length=32)
    assert config.max_length == 32
