"""The fidelity measures of the parent's words (``parent-eval --fidelity``), on hand-made reactions
and end to end with the scripted parent (templates, labelled as such: faithful by construction)."""

from __future__ import annotations

import pytest

from babyworld.parent.fidelity import (
    MEASURES,
    about_situation,
    check_measures,
    measure_fidelity,
    names,
    polarity,
    stray_toy_words,
)
from babyworld.parent.scripted import ScriptedParent


@pytest.mark.parametrize(
    ("reaction", "accepts"),
    [
        ("Yes! Thank you for the green cup.", True),
        ("Good job, that is the blue bird!", True),
        ("That's right, it is red!", True),
        ("Oh yes, the ball!", True),
        ("No, it is not a ball. It is a yellow ball.", False),  # the transcripts' contradiction
        ("Oh no, this is the purple cup, not the white car.", False),
        ("It is not green, it is blue.", False),
        ("A ball? Let's see.", None),
        ("", None),
    ],
)
def test_polarity_by_hand(reaction, accepts):
    assert polarity(reaction) is accepts


def test_names_and_stray_toys_by_hand():
    assert names("No, that is the red box. I wanted the blue bird.", "red box")
    assert not names("No, that is the green box.", "red box")
    scene = {"red", "box", "white", "car", "blue", "key"}
    # the few-shot example's toy leaks into the reaction: "blue bird" is not on the table
    assert stray_toy_words("No, that is the green box. I wanted the blue bird.", scene) == {
        "green",
        "bird",
    }
    assert stray_toy_words("Two red boxes!", scene) == set()


def test_the_question_s_attribute_by_hand():
    # the `question` measure and Name's scene words read the attribute from the parent's words
    from babyworld.envs.prompts import asks_color

    assert asks_color("What color is this toy?") and asks_color("Tell me, which colour is it?")
    assert not asks_color("What is this called?") and not asks_color("Look! What is this thing?")


def test_about_situation_by_hand():
    assert about_situation("It is time to eat.", "it is lunch time")
    assert about_situation("Hey, a dog!", "a dog is barking outside")
    assert not about_situation("Oh no, no", "the baby fell down")
    assert not about_situation("I'm going to the bathroom.", "the bath is ready")


def test_unknown_levels_and_measures_are_refused():
    with pytest.raises(ValueError, match=r"unknown level\(s\) \['Ladder'\]"):
        check_measures(["Ladder"])
    with pytest.raises(
        ValueError, match=r"unknown fidelity measure\(s\) \['topic'\] for \['Point'\]"
    ):
        check_measures(["Point"], ("topic",))
    with pytest.raises(ValueError, match="situations must be a positive integer"):
        measure_fidelity(ScriptedParent(), "Point", situations=0)


@pytest.mark.parametrize("level", sorted(MEASURES))
def test_the_scripted_parent_is_faithful_by_construction(level):
    r = measure_fidelity(ScriptedParent(), level, situations=24)
    assert set(r.measures) == set(MEASURES[level])
    assert all(v == 1.0 for v in r.measures.values()), r.measures
    assert r.diversity["reactions"]["distinct"] > 1


class _Contrary(ScriptedParent):
    """A parent whose reactions say the opposite of its verdict (a broken narrator)."""

    def generate(self, prompts, **kw):  # after the env's opening: the words the baby hears
        out = super().generate(prompts, **kw)
        flip = {"Yes, well done!": "No.", "No.": "Yes, well done!"}
        return [
            next((s.replace(a, b, 1) for a, b in flip.items() if s.startswith(a)), s) for s in out
        ]


def test_a_contrary_narrator_fails_the_verdict_measure():
    r = measure_fidelity(_Contrary(), "Point", situations=24)
    assert r.measures["verdict"] == 0.0
    assert r.measures["request"] == 1.0


class _Quoting(ScriptedParent):
    """Name: a parent whose corrections repeat the baby's wrong word ("No. It is not car.")."""

    def generate(self, prompts, **kw):
        out = super().generate(prompts, **kw)
        return [
            f"No. It is not {p.fields['word']}." if getattr(p, "kind", "") == "react_name"
            and p.fields.get("verdict") == "wrong" else s
            for p, s in zip(prompts, out, strict=True)
        ]  # fmt: skip


def test_repeating_the_baby_s_word_is_stray_but_not_invented():
    r = measure_fidelity(_Quoting(), "Name", situations=24)
    assert r.measures["no_stray_toy"] < 1.0  # the baby's wrong word is often not on the table
    assert r.measures["no_invented_toy"] == 1.0
    assert r.measures["shown"] < 1.0  # and it never says the right word
