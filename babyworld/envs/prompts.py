"""What the env asks the parent: few-shot prompts (structured, so the scripted parent can answer).

A 135M instruct model follows role-play instructions poorly but continues a pattern well, so each
prompt is a short few-shot script ending where the parent's line begins. The world's facts (which
toy, whether the baby was right) come from the verifier and are stated in the prompt; the parent
only puts them into words. Judge frames are the contexts used for calibrated scoring.
"""

from __future__ import annotations

import functools

from babyworld.parent import Prompt
from babyworld.parent.judge import INTENT_TEMPLATE
from babyworld.world import WorldObject

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
    "Asked: green cup. Got: green cup (right). Mom: Yes! Thank you for the green cup.\n"
    "Asked: yellow key. Got: red box (wrong). Mom: No, that is the red box. I wanted the yellow key.\n"
    "Asked: white car. Got: purple cup (wrong). Mom: Oh no, this is the purple cup, not the white car.\n"
    "Asked: blue bird. Got: blue bird (right). Mom: Good job, that is the blue bird!\n"
    "Asked: {wanted}. Got: {got} ({verdict}). Mom:"
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
    'Toy: green cup. Asked: what it is. Baby: "cup" (right). Mom: Yes, it is a cup! Well done.\n'
    'Toy: yellow key. Asked: what it is. Baby: "ball" (wrong). Mom: No, this is not a ball. It is '
    "a key.\n"
    'Toy: blue car. Asked: its color. Baby: "green" (wrong). Mom: No, it is not green, it is blue.\n'
    'Toy: red bird. Asked: its color. Baby: "red" (right). Mom: That\'s right, it is red!\n'
    'Toy: {object}. Asked: {about}. Baby: "{word}" ({verdict}). Mom:'
)
_ABOUT = {"shape": "what it is", "color": "its color"}


def ask_for(obj: WorldObject) -> Prompt:
    """The parent asks the baby to hand over ``obj``."""
    return Prompt(_ASK_FOR.format(object=obj.name), "ask_for", object=obj.name)


def react_fetch(wanted: WorldObject, got: WorldObject, success: bool) -> Prompt:
    """The parent reacts to being handed ``got`` after asking for ``wanted`` (verifier's verdict)."""
    verdict = "right" if success else "wrong"
    text = _REACT_FETCH.format(wanted=wanted.name, got=got.name, verdict=verdict)
    return Prompt(text, "react_fetch", wanted=wanted.name, got=got.name, verdict=verdict)


def ask_attribute(attribute: str) -> Prompt:
    """The parent holds up a toy and asks for its ``attribute`` (without naming the answer)."""
    kind = "ask_name" if attribute == "shape" else "ask_color"
    return Prompt(_ASK_ATTRIBUTE.format(about=_ABOUT[attribute]), kind)


def react_name(obj: WorldObject, attribute: str, word: str, success: bool) -> Prompt:
    """The parent reacts to the baby saying ``word`` for ``obj``'s ``attribute`` (verifier's verdict)."""
    answer = obj.attribute(attribute)
    verdict = "right" if success else "wrong"
    text = _REACT_NAME.format(object=obj.name, about=_ABOUT[attribute], word=word, verdict=verdict)
    return Prompt(
        text, "react_name", word=word, answer=answer, attribute=attribute, verdict=verdict
    )


#: Point's judge: a few-shot script of requests and the toys that answer them. Measured in the
#: env over every (request, toy) pair of the default parent (``babyworld parent-eval --in-env``):
#: top-1 0.998, where the same frame without the script had 0.893 (docs/teacher.md).
FETCH_JUDGE_SCRIPT = (
    "Mom asks for a toy; the baby gives it to her.\n"
    "Mom: Give me the green cup. Baby gives: green cup\n"
    "Mom: I want the blue bird. Baby gives: blue bird\n"
    "Mom: Where is the red box? Baby gives: red box\n"
)
_FETCH_JUDGE = FETCH_JUDGE_SCRIPT + "Mom: {request} Baby gives:"
_FETCH_NEUTRAL = _FETCH_JUDGE.format(request="Hello.")


# The same (request, toys) come back often and frames do not change: every env shares them (and
# the parent's cache keys kept on them).
@functools.lru_cache(maxsize=4096)
def fetch_judge_frames(
    request: str, wanted: WorldObject, got: WorldObject
) -> tuple[Prompt, str, str]:
    """``(context, neutral context, continuation)`` for judging a handed-over toy.

    The parent judges by what it said (``request``, its own words asking for ``wanted``) against a
    neutral greeting. The context is a :class:`~babyworld.parent.Prompt` of kind ``"judge"``
    whose ``answer`` is the toy the parent meant: LLM parents read the text, the scripted parent
    the answer.
    """
    return (
        Prompt(_FETCH_JUDGE.format(request=request), "judge", answer=wanted.name),
        _FETCH_NEUTRAL,
        f" {got.name}",
    )


#: Name's judge: a few-shot question-and-answer script in which the parent's question names what
#: it knows of the asked attribute only ("the green toy" when it asks the colour, "the cup" when it
#: asks what it is). Every frame that named the whole toy let the 135M parent prefer the toy's
#: *other* attribute word (top-1 0.14-0.69, docs/teacher.md); this one: 1.000.
#: The neutral frame asks the same question about "the toy" (content-free calibration).
_NAME_JUDGE = (
    "Q: What color is the blue toy? A: blue\n"
    "Q: What is the box? A: box\n"
    "Q: What color is the yellow toy? A: yellow\n"
    "Q: What is the key? A: key\n"
    "Q: {question} A:"
)
_NAME_QUESTION = {"color": "What color is the {color} toy?", "shape": "What is the {shape}?"}
_NAME_NEUTRAL = {"color": "What color is the toy?", "shape": "What is the toy?"}


def name_judge_frames(obj: WorldObject, attribute: str, word: str) -> tuple[Prompt, str, str]:
    """``(context, neutral context, continuation)`` for judging a word said about a shown toy.

    ``attribute`` is what the parent asked about (``"shape"`` or ``"color"``); the context is a
    ``"judge"`` :class:`~babyworld.parent.Prompt` whose ``answer`` is the right word.
    """
    question = _NAME_QUESTION[attribute].format(color=obj.color, shape=obj.shape)
    return (
        Prompt(
            _NAME_JUDGE.format(question=question),
            "judge",
            answer=obj.attribute(attribute),
        ),
        _NAME_JUDGE.format(question=_NAME_NEUTRAL[attribute]),
        f" {word}",
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
    'Baby: "cup please". Mom gives: green cup. Mom: Here you go, the green cup.\n'
    'Baby: "". Mom gives: nothing. Mom: I don\'t understand. What do you want?\n'
    'Baby: "blue". Mom gives: blue bird. Mom: You want the blue bird? Here it is.\n'
    'Baby: "{utterance}". Mom gives: {given}. Mom:'
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
    text = _REACT_REQUEST.format(utterance=utterance, given=name)
    return Prompt(text, "react_request", utterance=utterance, given=name)


def request_frames(objects: tuple[WorldObject, ...], utterance: str) -> tuple[list[str], list[str]]:
    """Contexts and continuations scored for a request: one per candidate toy, then neutral."""
    contexts = [REQUEST_INTENT.format(intent=o.name) for o in objects] + [REQUEST_NEUTRAL]
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
    'Mom: Are you sleepy? Baby: "ball" (does not fit). Mom: A ball? No, now it is time to '
    "sleep.\n"
    'Mom: {line} Baby: "{utterance}" ({verdict}). Mom:'
)
#: Frame in which the parent judges a reply to one of its lines (coherence and relevance).
CHAT_CONTEXT = 'Mom says: "{line}" The baby answers:'
CHAT_NEUTRAL = "The baby says:"


def chat_open(situation: str, example: str) -> Prompt:
    """The parent's line in a situation (``example``: what the scripted parent says)."""
    text = _CHAT_OPEN.format(situation=situation)
    return Prompt(text, "chat_open", situation=situation, example=example)


def chat_reply(line: str, utterance: str, fits: bool) -> Prompt:
    """The parent answers the baby's reply to ``line`` (``fits``: the parent's own judgement)."""
    verdict = "fits" if fits else "does not fit"
    text = _CHAT_REPLY.format(line=line, utterance=utterance, verdict=verdict)
    return Prompt(text, "chat_reply", line=line, utterance=utterance, verdict=verdict)


def chat_frames(lines: list[str], utterance: str) -> tuple[list[str], list[str]]:
    """Contexts and continuations scored for a reply: one per candidate line, then neutral."""
    contexts = [CHAT_CONTEXT.format(line=line) for line in lines] + [CHAT_NEUTRAL]
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


def not_understood(line: str, utterance: str) -> Prompt:
    """The parent does not understand the baby's ``utterance`` (an act outside the mask)."""
    text = _NOT_UNDERSTOOD.format(line=line, utterance=utterance)
    return Prompt(text, "not_understood", line=line, utterance=utterance)
