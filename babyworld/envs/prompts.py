"""What the env asks the parent: few-shot prompts (structured, so the scripted parent can answer).

A 135M instruct model follows role-play instructions poorly but continues a pattern well, so each
prompt is a short few-shot script ending where the parent's line begins. The world's facts (which
toy, whether the baby was right) come from the verifier and are stated in the prompt; the parent
only puts them into words. Judge frames are the contexts used for calibrated scoring.
"""

from __future__ import annotations

from babyworld.parent import Prompt
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


def fetch_judge_frames(request: str, got: WorldObject) -> tuple[str, str, str]:
    """``(context, neutral context, continuation)`` for judging a handed-over object."""
    return (
        f'Mom says: "{request}" The baby gives her the',
        'Mom says: "Hello." The baby gives her the',
        f" {got.name}.",
    )


def name_judge_frames(obj: WorldObject, question: str, word: str) -> tuple[str, str, str]:
    """``(context, neutral context, continuation)`` for judging a word said for a shown object."""
    return (
        f'Mom holds up the {obj.name} and asks: "{question}" The baby says: "',
        f'Mom holds up a toy and asks: "{question}" The baby says: "',
        f'{word}"',
    )
