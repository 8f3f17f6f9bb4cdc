"""The student that reads words (``--student.kind tokens``): packing, masking, init, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from babyworld.agents.student import Student, StudentConfig, TokenStudent, make_student, pack_right
from babyworld.experiments.config import TrainConfig

TOK = StudentConfig(kind="tokens", d_model=32, n_heads=2, history=4, latent_dim=8)
SIZES = {"vocab_size": 256, "heard_length": 32, "percept_dim": 42, "n_actions": 3, "n_rewards": 5}


def _student(seed=0, cfg=TOK):
    torch.manual_seed(seed)
    return make_student(cfg, **SIZES)


def _window(b=5, h=4):
    g = torch.Generator().manual_seed(1)
    heard = torch.randint(1, 256, (b, h, 32), generator=g)
    heard_len = torch.randint(0, 33, (b, h), generator=g)
    percept = torch.rand(b, h, 42, generator=g).round()
    prev = torch.randint(0, 4, (b, h), generator=g)
    valid = torch.ones(b, h, dtype=torch.bool)
    valid[0, :2] = False
    return heard, heard_len, percept, prev, valid


def test_kind_chooses_the_student_and_shapes_match():
    assert type(_student(cfg=StudentConfig())) is Student
    m = _student()
    assert isinstance(m, TokenStudent)
    mask = torch.tensor([[True, False, True]] * 5)
    out = m(*_window(), mask)
    assert out.logits.shape == (5, 3) and out.values.shape == (5, 5)
    assert out.mu.shape == out.logvar.shape == (5, 8)
    assert torch.all(out.logits.softmax(-1)[:, 1] == 0)
    tok, per = m.predict_next(out.mu, out.logvar, torch.tensor([0, 1, 2, 0, 1]))
    assert tok.shape == (5, 32, 256) and per.shape == (5, 42)
    with pytest.raises(ValueError, match="windows must hold 4 steps"):
        m(*(x[:, :2] for x in _window()), mask)


def test_pack_right_by_hand():
    x = torch.arange(5.0).view(1, 5, 1).repeat(2, 1, 1)  # token i carries the value i
    real = torch.tensor([[True, False, True, False, True], [False, False, False, True, True]])
    packed, mask = pack_right(x, real)
    # the most real tokens of a row is 3: row 0 keeps 0, 2, 4; row 1 one padding, then 3, 4
    assert packed[0, :, 0].tolist() == [0.0, 2.0, 4.0]
    assert packed[1, 1:, 0].tolist() == [3.0, 4.0]
    assert mask.tolist() == [[True, True, True], [False, True, True]]


def test_padding_empty_steps_and_repeats_are_not_read():
    m = _student()
    heard, heard_len, percept, prev, valid = _window()
    mask = torch.ones(5, 3, dtype=torch.bool)
    a = m(heard, heard_len, percept, prev, valid, mask).logits
    changed = heard.clone()
    pos = torch.arange(32)
    changed[pos.expand_as(heard) >= heard_len[..., None]] = 7  # garbage past each length
    changed[0, :2] = 9  # and in the empty steps of window 0
    pct, prv = percept.clone(), prev.clone()
    pct[0, :2], prv[0, :2] = 1.0, 0
    torch.testing.assert_close(a, m(changed, heard_len, pct, prv, valid, mask).logits)
    # a step that hears what the step before heard adds no word tokens
    rep, rep_len = heard.clone(), heard_len.clone()
    rep[:, 2], rep_len[:, 2] = rep[:, 1], rep_len[:, 1]
    _, real_a, kind = m.tokens(heard, heard_len, percept, prev, valid)
    _, real_b, _ = m.tokens(rep, rep_len, percept, prev, valid)
    words_a, words_b = (real_a & (kind == 1)).sum(1), (real_b & (kind == 1)).sum(1)
    # rows 1-4: step 2's words are dropped; row 0: step 1 is empty, so step 2 is no repeat
    assert words_b[1:].tolist() == (words_a - heard_len[:, 2])[1:].tolist()
    assert int(words_b[0]) == int(words_a[0] - heard_len[0, 2] + heard_len[0, 1])


def test_a_word_means_the_same_wherever_it_is_heard():
    """The same words after more padding, or shifted inside the heard ids, read the same."""
    m = _student()
    mask = torch.ones(1, 3, dtype=torch.bool)
    heard = torch.zeros(1, 4, 32, dtype=torch.long)
    heard[0, -1, :3] = torch.tensor([5, 6, 7])
    valid = torch.tensor([[False, False, False, True]])
    percept = torch.rand(1, 4, 42)
    prev = torch.full((1, 4), 3)
    a = m(heard, torch.tensor([[0, 0, 0, 3]]), percept, prev, valid, mask).logits
    # the window of a history-2 copy of the weights sees the same tokens
    short = make_student(
        StudentConfig(kind="tokens", d_model=32, n_heads=2, history=2, latent_dim=8), **SIZES
    )
    state = {k: v for k, v in m.state_dict().items() if not k.startswith("age")}
    short.load_state_dict(state, strict=False)
    short.age.weight.data.copy_(m.age.weight[:2])
    b = short(
        heard[:, 2:], torch.tensor([[0, 3]]), percept[:, 2:], prev[:, 2:], valid[:, 2:], mask
    ).logits
    torch.testing.assert_close(a, b)


def test_token_student_is_randomly_initialised_from_its_seed():
    a, b, c = _student(0), _student(0), _student(1)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    matrices = [(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)]
    assert all(not torch.equal(pa, pc) for pa, pc in matrices if pa.dim() >= 2)
    # Nothing pretrained: no Hugging Face module, no file read, N(0, 1) word embeddings.
    assert not any(type(mod).__module__.startswith("transformers") for mod in a.modules())
    assert abs(float(a.tok_word.weight.detach().std()) - 1.0) < 0.05


def test_position_std_sets_the_scale_of_positions_slot_indices_types_and_ages():
    small, big = _student(0), _student(0, dataclasses.replace(TOK, position_std=1.0))
    for name in ("word_pos", "slot_pos", "age"):  # tok_type has 4 rows: too few to measure
        weights = (getattr(m, name).weight.detach() for m in (small, big))
        a, b = (float(w.std()) for w in weights)
        assert abs(a - 0.1) < 0.04 and abs(b - 1.0) < 0.4, (name, a, b)
    assert torch.equal(small.tok_word.weight, big.tok_word.weight)  # content: the same draws
    with pytest.raises(ValueError, match="student.position_std must be > 0, got 0"):
        StudentConfig(kind="tokens", position_std=0)


def test_no_file_is_read_when_a_token_student_is_built(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the token student must not load weights")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", refuse)
    _student()


def test_unknown_student_kind_is_refused():
    with pytest.raises(ValueError, match=r"unknown student kind 'words'.*steps.*tokens"):
        StudentConfig(kind="words")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown student kind"):
        TrainConfig(student=StudentConfig(kind="bag"))  # type: ignore[arg-type]


def test_compare_table_and_bad_config():
    from babyworld.experiments.studies.student_compare import CompareConfig, table

    rows = [
        {
            "level": "Name",
            "student": "steps",
            "steps": 100,
            "success_last_500": 0.5,
            "steps_to_90": None,
            "samples_per_s": 200.0,
        },
        {
            "level": "Name",
            "student": "tokens",
            "steps": 100,
            "success_last_500": 0.95,
            "steps_to_90": 60,
            "samples_per_s": 100.0,
        },
    ]
    rows[1].update(
        stages=["Name[attributes=shape]", "Name"],
        stage_at_end="Name",
        last_stage_success_last_500=0.97,
    )
    out = table(rows, {"steps": 300.0, "tokens": 150.0}).splitlines()
    assert out[2] == "| Name | steps | 100 | Name | 0.500 | – | not reached | 200 |"
    assert out[3] == (
        "| Name (Name[attributes=shape] → Name) | tokens | 100 | Name | 0.950 | 0.970 | 60 | 100 |"
    )
    assert out[-1] == "speed run, tokens: 150 samples/s (0.50x steps)"
    with pytest.raises(ValueError, match="one number or one per level"):
        CompareConfig(levels=("Name",), steps=(1, 2))
    with pytest.raises(ValueError, match="speed-steps must be >= 0"):
        CompareConfig(speed_steps=-1)
    with pytest.raises(ValueError, match="unknown student kinds"):
        CompareConfig(kinds=("words",))


def test_compare_trains_a_level_through_its_stages(tmp_path):
    """--curricula.stages of one level: that level's runs use the ladder over them, others not."""
    from babyworld.experiments.config import CurriculumConfig, EnvConfig
    from babyworld.experiments.studies.student_compare import (
        CompareConfig,
        _config,
        _last_stage,
        _stage_at_end,
        run_name,
    )

    stages = ("Request[max_words=1]", "Request")
    cfg = CompareConfig(
        curricula=CurriculumConfig(stages=stages, retest_rate=0.0),
        env=EnvConfig(reward_weights="task=1,consistency=1"),
    )
    req = _config(cfg, "Request", "tokens", 100, tmp_path / "r")
    assert req.env.reward_weights == "task=1,consistency=1,predictability=0,mdl=0,progress=0"
    assert (req.curriculum, req.curricula.stages, req.curricula.retest_rate) == (
        "ladder",
        stages,
        0.0,
    )
    assert req.envs_level == "Request"
    name = _config(cfg, "Name", "tokens", 100, tmp_path / "n")
    assert (name.curriculum, name.curricula.stages, name.envs_level) == ("fixed", (), "Name")
    assert run_name(cfg, "Request", "steps") == "Request__steps__0__ladder"
    assert run_name(cfg, "Name", "steps") == "Name__steps__0"
    # the stage a run ended in, and its last stage's success (None if never reached)
    done = {
        "Request[max_words=1]": {"first_step": 32, "last_500_success": None},
        "Request": {"first_step": 900, "last_500_success": 0.95},
    }
    stuck = {"Request[max_words=1]": {"first_step": 32, "last_500_success": 0.68}}
    assert _stage_at_end({"curriculum": {"tasks": done}}) == "Request"
    assert _last_stage({"curriculum": {"tasks": done}}, cfg, "Request") == 0.95
    assert _stage_at_end({"curriculum": {"tasks": stuck}}) == "Request[max_words=1]"
    assert _last_stage({"curriculum": {"tasks": stuck}}, cfg, "Request") is None
    with pytest.raises(ValueError, match="tasks of one of --levels"):
        CompareConfig(levels=("Name",), steps=(1,), curricula=CurriculumConfig(stages=stages))
    with pytest.raises(ValueError, match="tasks of one of --levels"):
        CompareConfig(curricula=CurriculumConfig(stages=("Name", "Request")))
