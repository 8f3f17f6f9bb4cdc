"""The parent sees only what a parent sees: every judge and reaction prompt comes from its view.

A :class:`~babyworld.envs.prompts.ParentView` holds the toys as the parent perceives them, the
toy it shows and its own words; nothing the env derives from the task's answer. Here, per level,
two tasks with different answers and the same view give byte-identical frames, and on Name the
frames for a colour and a shape question about one toy differ only in the question the parent
spoke. Scripted parent (templates, labelled as such): the frames' text is what an LLM reads.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from babyworld.envs import prompts
from babyworld.envs.chat import CHAT_REFERENCE, ChatEnv
from babyworld.envs.name import NameEnv
from babyworld.envs.point import PointEnv
from babyworld.envs.request import RequestEnv
from babyworld.parent import Prompt
from babyworld.parent.scripted import ScriptedParent
from babyworld.world import ATTRIBUTES, COLORS, SHAPES, FetchTask, NameTask, WorldObject


def _frames(requests: tuple[list, list]) -> list[tuple[str, str, dict]]:
    """Frames as text and fields (a Prompt's fields are what the scripted parent reads)."""
    contexts, continuations = requests
    return [
        (str(c), str(x), dict(c.fields) if isinstance(c, Prompt) else {})
        for c, x in zip(contexts, continuations, strict=True)
    ]


def _feedback(env, action: int) -> tuple[str, dict]:
    contexts, continuations = env.teacher_requests()
    out = env._resolve(action, env.parent.score(contexts, continuations))
    return str(out.feedback_prompt), dict(out.feedback_prompt.fields)


def test_the_view_has_no_field_for_an_answer():
    assert [f.name for f in dataclasses.fields(prompts.ParentView)] == [
        "table",
        "shown",
        "said",
        "lines",
        "situations",
    ]


def test_point_frames_depend_on_the_request_said_not_on_the_wanted_toy():
    env = PointEnv("scripted")
    env.reset(seed=3)
    first = env._task.target
    frames, feedback = _frames(env.teacher_requests()), [_feedback(env, a) for a in range(3)]
    for other in range(3):  # the same words heard, another toy wanted by the world
        env._task = FetchTask(env._scene, other)
        assert _frames(env.teacher_requests()) == frames
        assert [_feedback(env, a) for a in range(3)] == feedback
    env._task = FetchTask(env._scene, first)
    assert all("answer" not in fields for _, _, fields in frames)


def test_name_frames_depend_on_the_question_said_not_on_the_asked_attribute():
    env = NameEnv("scripted")
    env.reset(seed=5)
    task = env._task
    frames = _frames(env.teacher_requests())
    feedback = [_feedback(env, a) for a in range(len(env.words))]
    other = "color" if task.attribute == "shape" else "shape"
    env._task = NameTask(task.scene, task.slot, other)  # the answer changes, the view does not
    assert env._task.answer != task.answer
    assert _frames(env.teacher_requests()) == frames
    assert [_feedback(env, a) for a in range(len(env.words))] == feedback
    assert all("answer" not in fields for _, _, fields in frames)


def test_name_frames_for_two_questions_differ_only_in_the_question_spoken():
    toy = WorldObject("green", "cup")
    q_color, q_shape = "Which color has it got?", "What do we call this?"
    for word in SHAPES + COLORS:
        (color_ctx, *color_cal), _ = prompts.name_judge_frames(
            prompts.ParentView((toy,), toy, q_color), word
        )
        (shape_ctx, *shape_cal), _ = prompts.name_judge_frames(
            prompts.ParentView((toy,), toy, q_shape), word
        )
        assert color_ctx.replace(q_color, q_shape) == shape_ctx
        assert color_cal == shape_cal  # the calibration questions are the same for every task


def test_a_string_match_on_a_name_frame_cannot_find_the_answer():
    """A reviewer's regular expression: which candidate words does the judged line name?

    The view describes the whole toy, so both of its words are there whatever was asked; the
    oracle frame names the answer alone.
    """
    candidates = re.compile(r"\b(" + "|".join(SHAPES + COLORS) + r")\b")
    env = NameEnv("scripted")
    oracle = NameEnv("scripted", judge_frames="answer_in_frame")
    for seed in range(20):
        env.reset(seed=seed)
        oracle.reset(seed=seed)
        shown = env._task.shown
        last_line = str(env.teacher_requests()[0][0]).splitlines()[-1]
        assert set(candidates.findall(last_line)) == {shown.color, shown.shape}
        oracle_line = str(oracle.teacher_requests()[0][0]).splitlines()[-1]
        assert set(candidates.findall(oracle_line)) == {oracle._task.answer}


def test_chat_frames_and_verdicts_do_not_depend_on_the_reference():
    """The held-out truth (a reference of fitting words) changes; what the parent judges does not."""
    other = {s: {w} for s, w in zip(CHAT_REFERENCE, ("ball", "book", "bath", "hi", "dog", "hurt",
                                                         "sleep", "eat"), strict=True)}  # fmt: skip
    envs = [ChatEnv("scripted"), ChatEnv("scripted", reference=other)]
    for env in envs:
        env.reset(seed=2)
    (reply,) = other[envs[0]._target()]  # fits the situation by the second reference only
    frames = [_frames(env._judge_requests(reply)) for env in envs]
    assert frames[0] == frames[1]
    outs = [env._judge(reply, env.parent.score(*env._judge_requests(reply))) for env in envs]
    assert outs[0].success == outs[1].success
    assert str(outs[0].feedback_prompt) == str(outs[1].feedback_prompt)
    assert outs[0].true_success != outs[1].true_success


def test_request_frames_depend_on_the_table_not_on_the_toy_needed():
    env = RequestEnv("scripted")
    env.reset(seed=1)
    frames = _frames(env._judge_requests("red ball"))
    for other in range(env.n_objects):
        env._task = FetchTask(env._scene, other)
        assert _frames(env._judge_requests("red ball")) == frames


def test_the_oracle_name_frame_is_a_labelled_control_only():
    assert NameEnv("scripted").judge_frames == "view"
    with pytest.raises(
        ValueError, match=r"judge_frames must be one of .*'view'.*'answer_in_frame'"
    ):
        NameEnv("scripted", judge_frames="regex")


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_the_scripted_parent_judges_name_from_its_question_and_the_shown_toy(attribute):
    """Its rule over the view is right on its own questions: it judges as the verifier does."""
    parent = ScriptedParent()
    for seed in range(10):
        env = NameEnv(parent, attributes=(attribute,))
        env.reset(seed=seed)
        logits = env.teacher_logprobs()
        assert int(np.argmax(logits)) == env.right_action()


def test_the_oracle_frame_is_a_control_of_a_name_run_never_an_ablation_default(tmp_path):
    from babyworld.experiments.ablation.ablation_config import ConfigError, parse_config
    from babyworld.experiments.config import EnvConfig, TrainConfig

    oracle = EnvConfig(judge_frames="answer_in_frame")
    assert (
        TrainConfig(level="Name", parent="scripted", env=oracle).env.env_kwargs()["judge_frames"]
        == "answer_in_frame"
    )
    assert "judge_frames" not in EnvConfig().env_kwargs()
    with pytest.raises(ValueError, match=r"--env.judge-frames answer_in_frame sets Name's judge"):
        TrainConfig(level="Point", parent="scripted", env=oracle)
    with pytest.raises(
        ValueError, match=r"env.judge_frames must be one of \['view', 'answer_in_frame'\]"
    ):
        EnvConfig(judge_frames="regex")
    base = {"out": str(tmp_path / "abl"), "levels": ["Name"], "steps": 512, "parent": "scripted"}
    with pytest.raises(ConfigError, match="would make the oracle frame .* every label's default"):
        parse_config({**base, "env": {"judge_frames": "answer_in_frame"}, "modes": {"baby": {}}})
    cfg = parse_config(
        {
            **base,
            "modes": {
                "baby": {},
                "oracle": {"mode": "baby", "env": {"judge_frames": "answer_in_frame"}},
            },
        }
    )
    assert not (tmp_path / "abl").exists()  # nothing created by parsing
    assert {s.label: s.env.judge_frames for s in cfg.modes} == {
        "baby": "view",
        "oracle": "answer_in_frame",
    }


def test_a_name_run_made_before_the_view_keeps_its_oracle_frame_on_resume():
    from babyworld.experiments.config import TrainConfig

    old = TrainConfig(level="Name", parent="scripted").to_dict()
    del old["env"]["judge_frames"]
    assert TrainConfig.from_dict(old).env.judge_frames == "answer_in_frame"
    new = TrainConfig(level="Name", parent="scripted").to_dict()
    assert TrainConfig.from_dict(new).env.judge_frames == "view"


@pytest.mark.parametrize("judged", [True, False])
def test_a_reaction_opens_with_the_parents_own_verdict(judged):
    # The reaction prompt ends with the opening its verdict calls for, and the parent's answer
    # starts with it; the verifier's view of the act plays no part.
    toy, other = WorldObject("red", "ball"), WorldObject("blue", "cup")
    view = prompts.ParentView(table=(toy, other), said="Give me the red ball.")
    p = prompts.react_fetch(view, other, judged)
    assert str(p).endswith("Mom: " + prompts.OPENINGS[judged])
    assert p.fields["opening"] == prompts.OPENINGS[judged]
    said = ScriptedParent().generate([p])[0]
    assert said == f"{prompts.OPENINGS[judged]} That is the blue cup."
    reply = prompts.chat_reply(prompts.ParentView(said="Look, a dog!"), "dog", judged)
    assert ScriptedParent().generate([reply])[0].startswith(prompts.CHAT_OPENINGS[judged])


def test_what_a_reaction_may_name_comes_from_the_view():
    # The ``avoid`` field (constrained decoding): every toy word except those of the exchange as
    # the parent sees it; for Name, the shown toy's word for what its own question asked.
    red_ball, white_key = WorldObject("red", "ball"), WorldObject("white", "key")
    rest = [w for w in (*COLORS, *SHAPES) if w not in ("red", "ball", "white", "key")]
    others = [w for w in (*COLORS, *SHAPES) if w not in ("red", "ball")]
    assert prompts.ask_for(red_ball).fields["avoid"].split() == others
    view = prompts.ParentView(table=(red_ball, white_key), said="I want the red ball, please.")
    fetch = prompts.react_fetch(view, white_key, judged=False)
    assert fetch.fields["avoid"].split() == rest
    shown = prompts.ParentView(table=(red_ball,), shown=red_ball, said="Which color is it?")
    colour = prompts.react_name(shown, "blue", judged=False).fields["avoid"].split()
    assert "red" not in colour and "blue" not in colour and "ball" in colour
    shape_q = dataclasses.replace(shown, said="What is this called?")
    shape = prompts.react_name(shape_q, "cup", judged=False).fields["avoid"].split()
    assert "ball" not in shape and "cup" not in shape and "red" in shape
    given = prompts.react_request("white", red_ball).fields["avoid"].split()
    assert "white" in given and "red" not in given and "ball" not in given
