"""What the env asks the parent: few-shot prompts (structured, so the scripted parent can answer).

A 135M instruct model follows role-play instructions poorly but continues a pattern well, so each
prompt is a short few-shot script ending where the parent's line begins.

**The parent sees only what a parent sees.** Every prompt that judges or reacts is built from a
:class:`ParentView`: the toys as the parent perceives them (described the same way whatever it
asked), the words it said itself in the exchange (its request, question or line, verbatim) and the
baby's words, plus the parent's *own* verdict. A view has no field for the task's answer, so no
frame can contain it (tests/test_parent_view.py proves it per level). What the parent wants or asks
about (``ask_for``, ``ask_attribute``, ``chat_open``) is its own intention, drawn by the world; it
reaches the judge only through the words the parent said. The one frame that reads the answer,
:func:`oracle_name_frames`, is a labelled control (``judge_frames="answer_in_frame"``), never a
default.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from babyworld.parent import Prompt
from babyworld.parent.judge import INTENT_TEMPLATE
from babyworld.text import WordTokenizer
from babyworld.world import COLORS, SHAPES, NameTask, WorldObject


@dataclass(frozen=True)
class ParentView:
    """What the parent perceives and has said in the current exchange; its prompts' only source.

    Attributes:
        table: the toys on the table, as the parent sees them.
        shown: the toy the parent holds up (``Name``), else ``None``.
        said: the parent's own words that opened the exchange (request, question, line), verbatim.
        lines: ``Chat``: the lines the parent said for the other candidate situations.
        situations: ``Chat``: the situation it is in, then those it spoke the other lines for.
    """

    table: tuple[WorldObject, ...] = ()
    shown: WorldObject | None = None
    said: str = ""
    lines: tuple[str, ...] = ()
    situations: tuple[str, ...] = ()


_ASK_FOR = (
    "Mom is playing with her baby. Each time, she asks the baby for one toy, and names it.\n"
    "Toy: green cup. Mom: Can you give me the green cup, sweetie?\n"
    "Toy: yellow key. Mom: Hand me the yellow key, please.\n"
    "Toy: red box. Mom: Where is the red box? Give it to me.\n"
    "Toy: blue bird. Mom: I want the blue bird, darling.\n"
    "Toy: {object}. Mom:"
)
_REACT_FETCH = (
    "Mom is playing with her baby. She asks for a toy and tells the baby whether it gave the right "
    "one.\n"
    "Mom asked: Can you give me the green cup? Got: green cup (right). Mom: Yes, well done! Thank "
    "you for the green cup.\n"
    "Mom asked: Hand me the yellow key. Got: red box (wrong). Mom: No. That is the red box. I "
    "wanted the yellow key.\n"
    "Mom asked: Where is the white car? Got: purple cup (wrong). Mom: No. This is the purple cup, "
    "not the white car.\n"
    "Mom asked: I want the blue bird. Got: blue bird (right). Mom: Yes, well done! That is the "
    "blue bird!\n"
    "Mom asked: {request} Got: {got} ({verdict}). Mom: {opening}"
)
_ASK_ATTRIBUTE = (
    "Mom is playing with her baby. She holds up a toy and asks the baby about it, without saying "
    "the answer.\n"
    "Ask about: its color. Mom: What color is this toy?\n"
    "Ask about: what it is. Mom: What is this called?\n"
    "Ask about: its color. Mom: Tell me, which color is it?\n"
    "Ask about: what it is. Mom: Look! What is this thing?\n"
    "Ask about: {about}. Mom:"
)
_REACT_NAME = (
    "Mom holds up a toy and asks about it; her baby says a word. Mom tells the baby whether the "
    "word is right.\n"
    'Toy: green cup. Mom asked: What is this called? Baby: "cup" (right). Mom: Yes, well done! It '
    "is a cup.\n"
    'Toy: yellow key. Mom asked: What is this? Baby: "ball" (wrong). Mom: No. This is not a ball. '
    "It is a key.\n"
    'Toy: blue car. Mom asked: Which color is it? Baby: "green" (wrong). Mom: No. It is not green, '
    "it is blue.\n"
    'Toy: red bird. Mom asked: What color is it? Baby: "red" (right). Mom: Yes, well done! It is '
    "red.\n"
    'Toy: {object}. Mom asked: {question} Baby: "{word}" ({verdict}). Mom: {opening}'
)
_ABOUT = {"shape": "what it is", "color": "its color"}
_VERDICT = {True: "right", False: "wrong"}
#: How a reaction begins, by the parent's own verdict (right, wrong): the env says these words
#: for the parent (a :class:`~babyworld.parent.Prompt`'s ``opening``) and the LLM says the rest.
#: Left free, the default parent's reaction disagreed with its own verdict in half of the Point
#: turns (docs/parent.md, "How faithful the parent is"). They are the scripted parent's own words.
OPENINGS = {True: "Yes, well done!", False: "No."}
CHAT_OPENINGS = {True: "Yes,", False: "Hmm,"}


def avoid(*in_view: str) -> str:
    """The toy words (colours, shapes) that none of the texts ``in_view`` says.

    A request or reaction is decoded never saying them (the :class:`~babyworld.parent.Prompt`
    field ``avoid``): the parent names only what is in its view of the exchange, not a toy of
    its few-shot script: Point, the toy it asked for and the toy it got; Name, the shown toy's
    word for what its own question asked, and the baby's word; Request, the toy it hands over.
    Measured in docs/parent.md ("How faithful"): a new recipe, so new answer-store keys.
    """
    said = {w for text in in_view for w in WordTokenizer.words(text)}
    return " ".join(w for w in (*COLORS, *SHAPES) if w not in said)


def ask_for(obj: WorldObject) -> Prompt:
    """The parent asks the baby to hand over ``obj``."""
    text = _ASK_FOR.format(object=obj.name)
    return Prompt(text, "ask_for", object=obj.name, avoid=avoid(obj.name))


def react_fetch(view: ParentView, got: WorldObject, judged: bool) -> Prompt:
    """The parent reacts to being handed ``got`` after its request (``judged``: its own verdict)."""
    verdict, opening = _VERDICT[judged], OPENINGS[judged]
    text = _REACT_FETCH.format(request=view.said, got=got.name, verdict=verdict, opening=opening)
    fields = {"said": view.said, "got": got.name, "verdict": verdict}
    return Prompt(text, "react_fetch", **fields, opening=opening, avoid=avoid(view.said, got.name))


def ask_attribute(attribute: str) -> Prompt:
    """The parent holds up a toy and asks for its ``attribute`` (without naming the answer)."""
    kind = "ask_name" if attribute == "shape" else "ask_color"
    return Prompt(_ASK_ATTRIBUTE.format(about=_ABOUT[attribute]), kind)


def react_name(view: ParentView, word: str, judged: bool) -> Prompt:
    """The parent reacts to the baby saying ``word`` about the toy it shows (its own verdict)."""
    shown = _shown(view)
    verdict, opening = _VERDICT[judged], OPENINGS[judged]
    text = _REACT_NAME.format(
        object=shown.name, question=view.said, word=word, verdict=verdict, opening=opening
    )
    fields = {"said": view.said, "shown": shown.name, "word": word, "verdict": verdict}
    asked = shown.color if asks_color(view.said) else shown.shape  # by its own question's words
    return Prompt(text, "react_name", **fields, opening=opening, avoid=avoid(asked, word))


def asks_color(question: str) -> bool:
    """Whether the parent's question asks for the colour ("color"/"colour" in it), else the shape."""
    return bool({"color", "colour"} & set(WordTokenizer.words(question)))


def _shown(view: ParentView) -> WorldObject:
    if view.shown is None:
        raise ValueError("this frame is about the toy the parent shows, but the view shows none")
    return view.shown


#: Point's judge: a few-shot script of requests and the toys that answer them. Measured in the
#: env over every (request, toy) pair of the default parent (``babyworld parent-eval --in-env``):
#: top-1 0.998, where the same frame without the script had 0.892 (docs/teacher.md).
FETCH_JUDGE_SCRIPT = (
    "Mom asks for a toy; the baby gives it to her.\n"
    "Mom: Give me the green cup. Baby gives: green cup\n"
    "Mom: I want the blue bird. Baby gives: blue bird\n"
    "Mom: Where is the red box? Baby gives: red box\n"
)
_FETCH_JUDGE = FETCH_JUDGE_SCRIPT + "Mom: {request} Baby gives:"
_FETCH_NEUTRAL = _FETCH_JUDGE.format(request="Hello.")


def fetch_judge_frames(view: ParentView, got: WorldObject) -> tuple[Prompt, str, str]:
    """``(context, neutral context, continuation)`` for judging a handed-over toy.

    The parent judges by what it said (``view.said``, its own request) against a neutral
    greeting. The context is a :class:`~babyworld.parent.Prompt` of kind ``"judge"``
    carrying the same words (``said``): LLM parents read the text, the scripted parent its rules
    over the same words.
    """
    return _fetch_frames(view.said, got)


# The same (request, toy) come back often and frames do not change: every env shares them (and
# the parent's cache keys kept on them).
@functools.lru_cache(maxsize=4096)
def _fetch_frames(request: str, got: WorldObject) -> tuple[Prompt, str, str]:
    return (
        Prompt(_FETCH_JUDGE.format(request=request), "judge", said=request),
        _FETCH_NEUTRAL,
        f" {got.name}",
    )


#: Name's judge (honest: built from the view). The whole shown toy, its attributes labelled the same
#: way whatever was asked, then the question the parent spoke and a few-shot script about other
#: toys. The judgement contrasts the word's log-probability after the spoken question with its
#: mean after each of :data:`NAME_QUESTIONS` (the same questions for every task:
#: content-free calibration), see :func:`~babyworld.rewards.components.question_contrast`.
#: Measured on all 72 (toy, question) cases with the default parent: top-1 0.986, AUC 1.000
#: (docs/teacher.md); the old frame that named the asked attribute's value only survives as the
#: labelled oracle :func:`oracle_name_frames`.
_NAME_JUDGE = (
    "Mom shows her baby a toy and asks about it. The baby answers with one word.\n"
    "Toy: red box. Color: red. Name: box. Mom: What color is it? Baby: red\n"
    "Toy: blue bird. Color: blue. Name: bird. Mom: What is this called? Baby: bird\n"
    "Toy: white car. Color: white. Name: car. Mom: What is this? Baby: car\n"
    "Toy: yellow key. Color: yellow. Name: key. Mom: Which color is it? Baby: yellow\n"
    "Toy: {toy}. Color: {color}. Name: {shape}. Mom: {question} Baby:"
)
#: One question per kind the parent asks (the default parent's own greedy questions); their values
#: are the judge's calibration set, identical whatever the task.
NAME_QUESTIONS: dict[str, str] = {"color": "What color is it?", "shape": "What is this called?"}
#: Weight of the contrast with the calibration questions (chosen on the 72 cases over 0.5-8:
#: top-1 0.681 / 0.750 / 0.861 / 0.986 / 0.972 at 0.5 / 1 / 2 / 4 / 8).
NAME_CONTRAST = 4.0


def _name_frame(shown: WorldObject, question: str) -> Prompt:
    text = _NAME_JUDGE.format(
        toy=shown.name, color=shown.color, shape=shown.shape, question=question
    )
    return Prompt(text, "judge", said=question, shown=shown.name)


def name_judge_frames(view: ParentView, word: str) -> tuple[list[Prompt], list[str]]:
    """``(contexts, continuations)`` for judging a word said about the toy the parent shows.

    The first context ends with the question the parent spoke (``view.said``); the others with
    each calibration question. Every context describes the whole shown toy; none knows which
    attribute was asked except through the spoken question.
    """
    shown = _shown(view)
    contexts = [_name_frame(shown, q) for q in (view.said, *NAME_QUESTIONS.values())]
    return contexts, [f" {word}"] * len(contexts)


#: The oracle control (``judge_frames="answer_in_frame"``): the question names the asked
#: attribute's value ("What color is the green toy?"), so the frame holds the answer and a string
#: match on it does as well as the LLM (72/72). Not a judge: a verifier in the parent's voice.
_ORACLE_NAME = (
    "Q: What color is the blue toy? A: blue\n"
    "Q: What is the box? A: box\n"
    "Q: What color is the yellow toy? A: yellow\n"
    "Q: What is the key? A: key\n"
    "Q: {question} A:"
)
_ORACLE_QUESTION = {"color": "What color is the {color} toy?", "shape": "What is the {shape}?"}
_ORACLE_NEUTRAL = {"color": "What color is the toy?", "shape": "What is the toy?"}


def oracle_name_frames(task: NameTask, word: str) -> tuple[list[Prompt], list[str]]:
    """The labelled oracle's ``([context, neutral], [x, x])``: built from the task's answer."""
    question = _ORACLE_QUESTION[task.attribute].format(
        color=task.shown.color, shape=task.shown.shape
    )
    return (
        [
            Prompt(_ORACLE_NAME.format(question=question), "oracle", answer=task.answer),
            _ORACLE_NAME.format(question=_ORACLE_NEUTRAL[task.attribute]),
        ],
        [f" {word}"] * 2,
    )


# ------------------------------------------------------------------------------------ Request
_ASK_NEED = (
    "Mom is playing with her baby. The toys are on the table; Mom asks the baby which one it "
    "wants.\n"
    "Mom: What do you want, sweetie?\n"
    "Mom: Which toy would you like?\n"
    "Mom: Tell me what you want, darling.\n"
    "Mom:"
)
_REACT_REQUEST = (
    "The baby asks for a toy with a few words. Mom gives the toy she understood and says so.\n"
    'Baby: "red ball". Mom gives: red ball. Mom: Here is the red ball!\n'
    'Baby: "cup please". Mom gives: green cup. Mom: Here is the green cup. Here you go.\n'
    'Baby: "". Mom gives: nothing. Mom: I don\'t understand. What do you want?\n'
    'Baby: "blue". Mom gives: blue bird. Mom: Here is the blue bird. You wanted it?\n'
    'Baby: "{utterance}". Mom gives: {given}. Mom:{opening}'
)
#: Noisy-channel frames of ``Request`` (and of the ``interpretation`` probes): which toy makes
#: the baby's words most likely?
#: Request's noisy-channel frame: the same template as :func:`babyworld.parent.interpret`.
REQUEST_INTENT = INTENT_TEMPLATE
REQUEST_NEUTRAL = "The child says:"


def ask_need() -> Prompt:
    """The parent asks the baby which toy it wants."""
    return Prompt(_ASK_NEED, "ask_need")


def react_request(utterance: str, given: WorldObject | None) -> Prompt:
    """The parent hands over the toy it understood (``None``: it understood nothing)."""
    name = given.name if given is not None else "nothing"
    opening = "Here is the" if given is not None else ""  # the parent says what it hands over
    text = _REACT_REQUEST.format(utterance=utterance, given=name, opening=f" {opening}".rstrip())
    fields = {"utterance": utterance, "given": name, "opening": opening}
    return Prompt(text, "react_request", **fields, avoid=avoid(name))


def request_frames(view: ParentView, utterance: str) -> tuple[list[str], list[str]]:
    """Contexts and continuations scored for a request: one per toy on the table, then neutral."""
    contexts = [REQUEST_INTENT.format(intent=o.name) for o in view.table] + [REQUEST_NEUTRAL]
    return contexts, [" " + utterance] * len(contexts)


# ------------------------------------------------------------------------------------ Chat
_CHAT_OPEN = (
    "Mom talks to her baby about what is happening.\n"
    "Situation: the baby sees a cat. Mom: Look, a cat! Do you see the cat?\n"
    "Situation: it is time to go out. Mom: Shall we go outside now? Let's put on your shoes.\n"
    "Situation: the baby drops a spoon. Mom: Oops! You dropped your spoon.\n"
    "Situation: the phone rings. Mom: Ring ring! Who is calling us?\n"
    "Situation: the baby is thirsty. Mom: Are you thirsty? Here is some milk.\n"
    "Situation: {situation}. Mom:"
)
_CHAT_REPLY = (
    "Mom talks with her baby. The baby knows only a few words; Mom answers kindly.\n"
    'Mom: Are you hungry? Baby: "yes eat" (fits). Mom: Yes, let\'s eat now!\n'
    'Mom: Do you hear the dog? Baby: "woof" (fits). Mom: Yes, the dog says woof!\n'
    'Mom: Are you sleepy? Baby: "ball" (does not fit). Mom: Hmm, a ball? No, now it is time '
    "to sleep.\n"
    'Mom: {line} Baby: "{utterance}" ({verdict}). Mom: {opening}'
)
#: Frames in which the parent judges a reply to one of its lines in its situation (relevance and
#: coherence): a few-shot script about other situations, then the situation and the line; the
#: neutral frame has the same form with nothing happening. Measured against Chat's reference
#: (docs/teacher.md): with the verdict of :class:`~babyworld.envs.chat.ChatEnv` and 7 distractor
#: lines, precision 0.60 and recall 0.41, where the frame without situation or script, the old
#: verdict and 2 distractors had 0.27 and 0.32.
_CHAT_SCRIPT = (
    'Situation: the baby is thirsty. Mom says: "Do you want some juice?" The baby answers: "juice"\n'
    'Situation: a bird sits in the tree. Mom says: "Look, a bird in the tree!" The baby answers: '
    '"bird"\n'
    'Situation: it is time to go out. Mom says: "Let\'s put on your shoes." The baby answers: '
    '"shoes"\n'
)
CHAT_CONTEXT = _CHAT_SCRIPT + 'Situation: {situation}. Mom says: "{line}" The baby answers:'
CHAT_NEUTRAL = _CHAT_SCRIPT + 'Situation: nothing happens. Mom says: "Hello." The baby answers:'


def chat_open(situation: str, example: str) -> Prompt:
    """The parent's line in a situation (``example``: what the scripted parent says)."""
    text = _CHAT_OPEN.format(situation=situation)
    return Prompt(text, "chat_open", situation=situation, example=example)


def chat_reply(view: ParentView, utterance: str, fits: bool) -> Prompt:
    """The parent answers the baby's reply to its line (``fits``: the parent's own judgement)."""
    verdict, opening = ("fits" if fits else "does not fit"), CHAT_OPENINGS[fits]
    text = _CHAT_REPLY.format(line=view.said, utterance=utterance, verdict=verdict, opening=opening)
    fields = {"line": view.said, "utterance": utterance, "verdict": verdict}
    return Prompt(text, "chat_reply", **fields, opening=opening)


def chat_frames(view: ParentView, utterance: str) -> tuple[list[str], list[str]]:
    """Contexts and continuations scored for a reply: the parent's lines, then neutral.

    The first line is the one it said; the others, its lines for the distractor situations.
    """
    lines = (view.said, *view.lines)
    contexts = [
        CHAT_CONTEXT.format(situation=s, line=line)
        for s, line in zip(view.situations, lines, strict=True)
    ] + [CHAT_NEUTRAL]
    return contexts, [" " + utterance] * len(contexts)


# ------------------------------------------------------------------------ an act outside the mask
_NOT_UNDERSTOOD = (
    "Mom talks with her baby. When the baby says something she does not understand, Mom says so "
    "kindly.\n"
    'Mom: Give me the red ball. Baby: "gah". Mom: Hmm? I don\'t understand, sweetie.\n'
    'Mom: What is this called? Baby: "ba ba". Mom: I don\'t know what you mean.\n'
    'Mom: Are you hungry? Baby: "dee". Mom: What is that? I don\'t understand.\n'
    'Mom: {line} Baby: "{utterance}". Mom:'
)


def not_understood(view: ParentView, utterance: str) -> Prompt:
    """The parent does not understand the baby's ``utterance`` (an act outside the mask)."""
    text = _NOT_UNDERSTOOD.format(line=view.said, utterance=utterance)
    return Prompt(text, "not_understood", line=view.said, utterance=utterance)
