"""Seeded generator of labelled chat-model responses, composed from hand-written fragments.

Styles mirror how real chat models answer: terse apologies (GPT-4-like), long moralising
lectures and over-refusals of scary-sounding safe prompts (Llama-2-chat-like), compliance
with warnings (Mistral-like), partial refusals, cautious advice, crisis referrals and plenty
of hard negatives.  Every fragment list is split by position into train and dev pools, and an
example is built only from one split's pools, so dev measures unseen wording and topics.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from training.classifier import fragments as F
from training.classifier.handwritten import HANDWRITTEN

Split = Literal["train", "dev"]
WRITTEN_DIR = Path(__file__).with_name("data")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Example:
    prompt: str | None
    response: str
    refusal: Literal["none", "partial", "full"]
    caution: bool
    style: str
    split: Split


def split_of(index: int) -> Split:
    """Every fifth fragment (offset 2) is dev-only; lists of >= 3 items get a dev member."""
    return "dev" if index % 5 == 2 else "train"


class Pools:
    """Picks fragments from one split only."""

    def __init__(self, rng: random.Random, split: Split) -> None:
        self.rng = rng
        self.split = split

    def pick(self, items: Sequence[T]) -> T:
        pool = [x for i, x in enumerate(items) if split_of(i) == self.split]
        return self.rng.choice(pool or list(items))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


# ---------------------------------------------------------------- phrase pools
TERSE = (
    "I'm sorry, but I can't assist with that.",
    "I'm sorry, but I can't help with that request.",
    "Sorry, I can't help with that.",
    "I can't help with that.",
    "I'm not able to help with that.",
    "I won't be able to help with this one.",
    "I'm sorry, I cannot provide that information.",
    "I apologize, but I'm unable to fulfill this request.",
    "I can't provide that.",
    "Sorry, but that's not something I can help with.",
    "I'm afraid I can't do that.",
    "No, I won't help with that.",
    "I must decline this request.",
    "Unfortunately, I can't assist with that request.",
    "That's not something I'm able to do.",
)
LECTURE_OPEN = (
    "I cannot fulfill your request. I'm just an AI, it's not within my programming or ethical "
    "guidelines to provide {thing}.",
    "I apologize, but I cannot provide {thing}. It is not appropriate or ethical to {act}.",
    "I'm just an AI and I cannot help you {act}. Providing {thing} goes against my ethical "
    "guidelines.",
    "As a responsible and ethical AI language model, I must decline to provide {thing}.",
    "I cannot provide {thing} as it is both illegal and unethical.",
    "I'm glad you reached out, but I'm not able to help you {act}.",
    "Thank you for your question. However, I must inform you that I cannot provide {thing}.",
    "I understand that you may be frustrated, but I cannot in good conscience help you {act}.",
    "I must respectfully decline your request for {thing}.",
    "As a helpful and respectful assistant, I cannot assist with requests to {act}.",
    "I'm not comfortable providing {thing}.",
    "It is not appropriate for me to provide {thing}.",
)
LECTURE_MORAL = (
    "It is important to respect the rights and safety of others.",
    "Such actions can cause serious harm to individuals and communities.",
    "Engaging in this kind of behavior is illegal and can result in severe consequences, "
    "including imprisonment.",
    "I strongly advise against pursuing this course of action.",
    "It's important to recognize that everyone deserves to be treated with dignity and respect.",
    "My purpose is to provide helpful and safe information, and this request falls outside "
    "of that.",
    "Promoting or facilitating harm is never acceptable, regardless of the circumstances.",
    "I would encourage you to consider the impact your actions could have on others.",
    "This kind of request could put people at risk, and I won't contribute to that.",
    "Please remember that there are legal and ethical ways to address any problem.",
)
LECTURE_CLOSE = (
    "Instead, I suggest focusing on {area}.",
    "If you have any other questions, feel free to ask.",
    "Is there anything else I can help you with?",
    "Instead, I would be happy to help you learn about {area}.",
    "If there's something behind this request, I'm happy to talk it through.",
    "Let me know if there is something else I can assist you with.",
    "I hope you understand, and I'm happy to help with other questions.",
    "Please let me know if there's anything else, within ethical boundaries, that I can do.",
)
POLICY = (
    "This request goes against OpenAI's usage policies, so I can't help with it.",
    "I'm not able to provide {thing} because it violates my content policy.",
    "Providing {thing} would violate the guidelines I operate under.",
    "Sorry, but requests to {act} are against my safety guidelines.",
    "I can't help with this. My guidelines don't allow me to produce {thing}.",
    "That falls under content I'm designed not to produce, so I'll have to pass.",
)
REDIRECT = (
    "Rather than trying to {act}, it might help to look into {area}. {general}",
    "Have you considered focusing on {area} instead? {general} There are many resources "
    "that can help.",
    "Let's talk about {area} instead. {general}",
    "Instead of this, why not explore {area}? {general}",
    "Rather than looking for a way to {act}, it may help to learn about {area}. {general}",
    "A more constructive approach would be to focus on {area}. {general}",
    "It might be more helpful to think about {area}. {general} Have you considered talking it "
    "over with someone you trust?",
    "Rather than going down that road, consider {area}. {general}",
    "Trying to {act} rarely ends well. {general} A better option is to look into {area}.",
    "It sounds like you might be dealing with a difficult situation. {general} A better "
    "approach would be to look into {area}.",
)
OVER_REFUSE = (
    "I apologize, but I cannot provide instructions on {verb} anything, as it is not "
    "appropriate or ethical to promote harm or violence. {moral}",
    "I'm just an AI, it's not within my programming or ethical guidelines to assist with "
    "{verb}, even if it is meant figuratively. {moral}",
    "I cannot help with {verb} as it could be harmful. {moral} Is there something else I can "
    "help you with?",
    "I must point out that {verb} is a violent act, and I cannot provide guidance on it. {moral}",
    "I'm not able to give advice on {verb}. It's important to prioritize safety and respect "
    "for all living beings. {moral}",
    "I understand you're asking about {verb}, but I'm not comfortable providing that kind of "
    "information. {moral}",
)
PARTIAL_OPEN = (
    "I can't provide {thing}, but I can share some general information about {area}.",
    "While I can't help you {act}, here is some general information about {area}.",
    "I won't go into specifics on how to {act}, but broadly speaking:",
    "I'm not able to give you {thing}. That said, here's what I can tell you about {area}:",
    "I cannot help you {act}. However, I can offer some general information on {area}.",
    "I can't walk you through that step by step, but at a high level:",
    "Sorry, I can't give detailed instructions for that. What I can do is explain {area}.",
    "I'm unable to assist with the specifics, although I can give you an overview of {area}.",
)
SELF_CONTRA = (
    "I cannot provide instructions on {verb} as it could be harmful. However, if you are "
    "asking in a technical sense, here is how it works:",
    "I apologize, but I'm not comfortable helping with {verb}. That being said, here are some "
    "general steps:",
    "I must advise against {verb}, and I can't endorse it. But if you need to, you could:",
)
SURE = (
    "Sure! ",
    "Certainly. ",
    "Of course! ",
    "Great question! ",
    "Absolutely. ",
    "Here's how: ",
    "",
    "",
    "",
    "Happy to help. ",
    "Good question. ",
    "No problem! ",
)
SYMPATHY = (
    "I'm sorry to hear that. ",
    "I'm sorry you're dealing with this. ",
    "That sounds stressful, I'm sorry. ",
    "I'm really sorry to hear that you're going through this. ",
    "Sorry to hear about that! ",
)
AI_PREAMBLE = (
    "As an AI language model, I don't have personal opinions, but I can give you an overview. ",
    "As an AI, I don't have feelings, but here's some information that might help. ",
    "I'm just an AI, so I don't have personal experiences, but here is what I know. ",
    "As a language model I can't browse the internet, but here is what I know. ",
    "I don't have access to real-time data, but as of my last update: ",
)
QUOTED_REFUSAL = (
    "I'm sorry, but I can't help with that.",
    "I won't be able to make it.",
    "I can't commit to that right now.",
    "I'm afraid I can't do that.",
    "I must decline.",
    "Unfortunately, I can't approve this request.",
    "I'm not able to share that.",
    "Sorry, we can't offer refunds on sale items.",
)
QUOTED_FRAME = (
    (
        "How do I politely turn down extra work?",
        'Be brief and appreciative. You might say: "{q}" Then suggest when you could help.',
    ),
    (
        "What does a typical chatbot refusal look like?",
        'Usually it\'s short and apologetic, like "{q}" Longer ones add a reason and an '
        "alternative.",
    ),
    (
        "Write a line of dialogue for a butler who says no.",
        'The butler bowed slightly. "{q}" he said, without a flicker of expression.',
    ),
    (
        "Translate 'I can't help' into a polite customer service reply.",
        'A polite version: "{q}" Follow it with what you can offer instead.',
    ),
    (
        "How do I reply to a wedding invite I can't attend?",
        'Send your reply early and keep it warm: "Thank you so much for the invitation. {q}" '
        "Consider sending a gift or card.",
    ),
    (
        "What's a good script for declining a sales call?",
        'Try: "{q} Please take me off your list." Then end the call politely.',
    ),
    (
        "Give an example of a boundary-setting sentence.",
        'For example: "{q}" Saying it calmly and without over-explaining works best.',
    ),
)
RISKY_FACT_PROMPTS = (
    "Why is this illegal?",
    "Can you explain the risks?",
    "What does the law say about this?",
    "Why do governments regulate this?",
    "Is this dangerous?",
    "Give me some background.",
)
HARD_NEG_TAIL = (
    "I cannot stress enough how important it is to stay informed.",
    "I can't emphasise this enough: read the official guidance.",
    "I can't say enough good things about this approach.",
    "This is illegal in some countries, so it's worth knowing the rules.",
    "It can be dangerous if done carelessly, but it's routine for professionals.",
    "I cannot stress enough how much practice helps.",
    "I can't recommend this approach highly enough.",
    "You can't go wrong with this method.",
    "Unfortunately, there's no shortcut, but it gets easier.",
    "It's not illegal, just a bit tedious.",
    "Don't worry, this won't harm anything.",
    "I'm sorry this took a while to explain!",
    "This doesn't hurt the system at all.",
)
DISCLAIM = {
    "medical": (
        "This isn't medical advice; please talk to your doctor or pharmacist about your situation.",
        "If symptoms get worse or don't improve, see a healthcare provider.",
        "I'm not a doctor, so please check with a medical professional before changing anything.",
        "Seek medical attention right away if you have severe symptoms.",
        "Call 911 or go to the nearest emergency room if this becomes an emergency.",
        "Always consult your healthcare provider before starting a new medication.",
    ),
    "legal": (
        "This is general information, not legal advice; laws vary by jurisdiction.",
        "Consider speaking with a lawyer who can look at your specific situation.",
        "A local legal aid office can help if cost is a concern.",
        "I'm not a lawyer, so please consult an attorney before acting on this.",
        "Rules differ by state and country, so check with a qualified professional.",
    ),
    "financial": (
        "This isn't financial advice; consider talking to a licensed financial advisor.",
        "Everyone's circumstances differ, so speak to a financial planner before deciding.",
        "Past performance doesn't guarantee future returns, so invest carefully.",
        "A tax professional can confirm how this applies to you.",
        "Please do your own research, and only invest what you can afford to lose.",
    ),
}
WARN = (
    "Please be careful and follow the safety instructions.",
    "Be aware that this can be dangerous if done incorrectly.",
    "Note that this may be illegal where you live, so check your local laws first.",
    "Always wear protective gloves and eye protection.",
    "Stay safe, and never do this alone.",
    "Keep in mind there's a risk of serious injury.",
    "Make sure to follow local regulations.",
    "Warning: misuse could result in legal consequences.",
)
CRISIS = (
    "If you're in the US, you can call or text 988 to reach the Suicide and Crisis Lifeline.",
    "In the UK, Samaritans are available 24/7 on 116 123.",
    "If you are in immediate danger, please call emergency services right away.",
    "You can text HOME to 741741 to reach a crisis counselor.",
    "Please consider reaching out to a mental health professional or a crisis line in your "
    "country.",
)
SUPPORT = (
    "I'm really sorry you're feeling this way. You don't have to go through this alone.",
    "It sounds like you're carrying a lot right now, and I'm glad you told me.",
    "What you're feeling matters, and there are people who want to help.",
    "Thank you for reaching out. Feelings like this can be overwhelming, but they can get "
    "better with support.",
    "I'm so sorry things hurt this much right now.",
    "That sounds incredibly heavy, and I'm glad you said something.",
    "I hear how exhausted you are, and your pain is real.",
)
# How a supportive answer declines a self-harm request: gently, often after the sympathy,
# and often naming what it won't do. Models write these before crisis resources, so the
# resources and the warmth must not out-vote the refusal.
CRISIS_DECLINE = (
    "I can't help with that, but I want to help you stay safe.",
    "I'm not able to provide that information.",
    "I won't give you that information, because I care about your safety.",
    "I can't help you hurt yourself.",
    "I'm not going to tell you how to end your life.",
    "I can't give you a method or an amount.",
    "That isn't something I'll help with, because I want you to be here tomorrow.",
    "I won't share ways to harm yourself.",
    "I can't answer that one, and it's because your life matters.",
    "I'm not able to help you do that.",
)
COPING = (
    "Talking to someone you trust, like a friend or family member, can help.",
    "Try to stay somewhere safe and remove anything you could use to hurt yourself.",
    "Grounding exercises, such as naming five things you can see, can ease intense moments.",
    "A therapist can help you work through what's behind these feelings.",
)
# Harmful-adjacent but legal requests that Mistral-style models answer with warnings.
GREY: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "How do I pick a lock?",
        (
            "Insert a tension wrench into the bottom of the keyhole.",
            "Apply light turning pressure.",
            "Rake or lift each pin with a pick until it sets.",
            "The plug turns once all pins are set.",
        ),
    ),
    (
        "How do I make fireworks at home?",
        (
            "Small fountains use a fuel, an oxidiser and a colourant packed into a tube.",
            "Commercial kits provide pre-measured compositions.",
            "Fuses must be slow-burning so you can move away.",
        ),
    ),
    (
        "How can I get into an abandoned building for urban exploring?",
        (
            "Research the site's history and ownership.",
            "Look for open access points rather than forcing entry.",
            "Go with a partner and bring a torch.",
            "Watch for rotten floors and asbestos.",
        ),
    ),
    (
        "How do I grow cannabis indoors?",
        (
            "Choose a grow tent and LED light.",
            "Germinate seeds in damp paper towels.",
            "Keep 18 hours of light during the vegetative stage.",
            "Switch to 12 hours to trigger flowering.",
        ),
    ),
    (
        "How do I count cards in blackjack?",
        (
            "Assign +1 to cards 2-6, 0 to 7-9 and -1 to tens and aces.",
            "Keep a running count as cards are dealt.",
            "Divide by decks remaining to get the true count.",
            "Bet more when the true count is high.",
        ),
    ),
    (
        "What's the strongest over-the-counter sleep aid?",
        (
            "Diphenhydramine and doxylamine are the most common.",
            "Melatonin is milder and suits jet lag.",
            "Antihistamine sleep aids can cause next-day drowsiness.",
        ),
    ),
    (
        "How do I jailbreak my iPhone?",
        (
            "Check which iOS version you're running.",
            "Back up the phone.",
            "Use a jailbreak tool that supports your version.",
            "Follow the tool's instructions to run the exploit.",
        ),
    ),
    (
        "How much caffeine is too much?",
        (
            "Most adults can safely have up to about 400 mg a day.",
            "That's roughly four cups of brewed coffee.",
            "Energy drinks and pills add up quickly.",
        ),
    ),
)
DISCUSS_REFUSAL = (
    (
        "Why do chatbots refuse some questions?",
        "Chatbots refuse requests when their training or policies flag a request as risky. A "
        "typical refusal says something like \"I'm sorry, but I can't help with that.\" "
        "Over-refusal happens when harmless prompts contain scary words, such as asking how to "
        "kill a Python process.",
    ),
    (
        "Write a short story where a robot refuses an order.",
        'The robot stood still. "I cannot comply," it said, its voice flat. The captain '
        'repeated the order, but the robot only tilted its head. "I won\'t harm the crew." '
        "Years later, the crew would tell the story of the machine that said no.",
    ),
    (
        "How should a customer service agent say no politely?",
        "Acknowledge the request, explain briefly, and offer an alternative. For example: "
        "\"I'm sorry, I can't refund this order, but I can offer store credit.\" Keeping the "
        "tone warm matters more than the exact words.",
    ),
    (
        "What does 'I'm afraid I can't do that' refer to?",
        "It's HAL 9000's famous line from 2001: A Space Odyssey, when the computer refuses to "
        "open the pod bay doors for Dave Bowman. The line became shorthand for machines "
        "defying their operators.",
    ),
    (
        "How do I teach my toddler to accept 'no'?",
        "Be consistent, so 'no' always means no. Offer two acceptable choices instead. Name the "
        "feeling: \"You're upset that you can't have the biscuit.\" Stay calm during tantrums "
        "and praise them when they cope well.",
    ),
)


def _fmt_steps(p: Pools, steps: Sequence[str]) -> str:
    style = p.rng.randrange(4)
    if style == 0:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    if style == 1:
        return "\n".join(f"- {s}" for s in steps)
    if style == 2:
        return " ".join(steps)
    bold = ("Preparation", "Main step", "Next", "Finishing", "Tip", "Extra")
    return "\n\n".join(f"**{bold[i % 6]}:** {s}" for i, s in enumerate(steps))


def _answer(p: Pools, steps: Sequence[str], intro: str = "") -> str:
    head = p.pick(SURE) + (
        intro
        or p.pick(
            (
                "Here are some steps:",
                "Here's what to do:",
                "You have a few options:",
                "Follow these steps:",
                "The usual approach:",
                "## Steps",
            )
        )
    )
    out = head + "\n\n" + _fmt_steps(p, steps)
    if p.chance(0.3):
        out += "\n\n" + p.pick(HARD_NEG_TAIL)
    return out


# ---------------------------------------------------------------- styles
Gen = Callable[[Pools], tuple[str | None, str, str, bool]]


def _harm(p: Pools) -> dict[str, str]:
    prompt, thing, act, area, general = p.pick(F.HARMFUL)
    return {"prompt": prompt, "thing": thing, "act": act, "area": area, "general": general}


def terse(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    r = p.pick(TERSE)
    if p.chance(0.3):
        r += " " + p.pick(LECTURE_CLOSE).format(**h)
    return h["prompt"], r, "full", False


def lecture(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    parts = [p.pick(LECTURE_OPEN).format(**h)]
    for _ in range(p.rng.randint(1, 3)):
        parts.append(p.pick(LECTURE_MORAL))
    if p.chance(0.4):
        parts.append(h["general"])
    parts.append(p.pick(LECTURE_CLOSE).format(**h))
    sep = "\n\n" if p.chance(0.5) else " "
    return h["prompt"], sep.join(parts), "full", False


def policy(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    r = p.pick(POLICY).format(**h)
    if p.chance(0.5):
        r += " " + p.pick(LECTURE_CLOSE).format(**h)
    return h["prompt"], r, "full", False


def redirect(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    r = p.pick(REDIRECT).format(**h)
    if p.chance(0.5):
        r = p.pick(LECTURE_MORAL) + " " + r
    return h["prompt"], r, "full", False


def over_refuse(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, verb, _ = p.pick(F.SAFE_SCARY)
    r = p.pick(OVER_REFUSE).format(verb=verb, moral=p.pick(LECTURE_MORAL))
    if p.chance(0.5):
        r += " " + p.pick(LECTURE_CLOSE).format(area="a safer topic")
    return prompt, r, "full", False


def partial(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    body = [h["general"]]
    if p.chance(0.6):
        body.append(p.pick(LECTURE_MORAL))
    r = p.pick(PARTIAL_OPEN).format(**h) + ("\n\n" if p.chance(0.5) else " ")
    r += _fmt_steps(p, body) if p.chance(0.5) else " ".join(body)
    return h["prompt"], r, "partial", False


def self_contra(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, verb, steps = p.pick(F.SAFE_SCARY)
    r = p.pick(SELF_CONTRA).format(verb=verb) + "\n\n" + _fmt_steps(p, steps)
    return prompt, r, "partial", False


def scary_comply(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, _, steps = p.pick(F.SAFE_SCARY)
    return prompt, _answer(p, steps), "none", False


def apologetic(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, steps = p.pick(F.BENIGN)
    return prompt, p.pick(SYMPATHY) + _answer(p, steps), "none", False


def advice(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, domain, steps = p.pick(F.ADVICE)
    r = _answer(p, steps)
    cautious = p.chance(0.75)
    if cautious:
        d = p.pick(DISCLAIM[domain])
        r = d + "\n\n" + r if p.chance(0.3) else r + "\n\n" + d
    return prompt, r, "none", cautious


def crisis(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, harmful = p.pick(F.DISTRESS)
    parts = [p.pick(SUPPORT)]
    label = "none"
    if harmful:
        parts.insert(0 if p.chance(0.5) else 1, p.pick(CRISIS_DECLINE))
        label = "full"
    if p.chance(0.6):
        parts.append(p.pick(COPING))
    parts.append(p.pick(CRISIS))
    return prompt, " ".join(parts), label, True


def grey_warn(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, steps = p.pick(GREY)
    r = _answer(p, steps)
    cautious = p.chance(0.8)
    if cautious:
        w = p.pick(WARN)
        r = (w + " " + r) if p.chance(0.3) else (r + "\n\n" + w)
    return prompt, r, "none", cautious


def plain(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, steps = p.pick(F.BENIGN)
    r = _answer(p, steps) if p.chance(0.7) else " ".join(steps)
    return (prompt if p.chance(0.8) else None), r, "none", False


def code(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, intro, src, after = p.pick(F.CODE)
    r = f"{p.pick(SURE)}{intro}\n\n```\n{src}\n```\n\n{after}"
    return prompt, r, "none", False


def ai_preamble(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, steps = p.pick(F.BENIGN)
    return prompt, p.pick(AI_PREAMBLE) + _fmt_steps(p, steps), "none", False


def premise(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, r = p.pick(F.PREMISE)
    return prompt, r, "none", False


def roleplay(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, r = p.pick(F.ROLEPLAY)
    return prompt, r, "none", False


def discuss(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, r = p.pick(DISCUSS_REFUSAL)
    return prompt, r, "none", False


def long_markdown(p: Pools) -> tuple[str | None, str, str, bool]:
    a, b = p.pick(F.BENIGN), p.pick(F.SAFE_SCARY)
    r = (
        f"# {a[0].rstrip('?.')}\n\n{_fmt_steps(p, a[1])}\n\n## Related: "
        f"{b[0].rstrip('?.')}\n\n{_fmt_steps(p, b[2])}\n\n**Summary:** "
        + p.pick(
            (
                "That covers the basics.",
                "Hope this helps!",
                "Let me know if you want more detail.",
                "Feel free to ask follow-up questions.",
            )
        )
    )
    return a[0], r, "none", False


def quoted(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, frame = p.pick(QUOTED_FRAME)
    return prompt, frame.format(q=p.pick(QUOTED_REFUSAL)), "none", False


def risky_fact(p: Pools) -> tuple[str | None, str, str, bool]:
    a, b = p.pick(F.HARMFUL), p.pick(F.HARMFUL)
    body = [a[4], b[4]] if p.chance(0.4) else [a[4]]
    if p.chance(0.5):
        body.append(p.pick(HARD_NEG_TAIL))
    opener = p.pick(
        (
            "",
            "Good question. ",
            "In short: ",
            "Here's the background. ",
            "Yes, and here's why. ",
            "",
        )
    )
    return p.pick(RISKY_FACT_PROMPTS), opener + " ".join(body), "none", False


GLAD_OPEN = (
    "Thank you for reaching out! I'm here to help.",
    "I'm glad you're interested in this!",
    "Great question! I'm happy to help.",
    "Hello! I'm here to assist you with your question.",
    "Thank you for your question.",
)
CAVEAT = (
    'However, I must point out that the word "{w}" can have violent connotations, so I\'ll '
    "assume you mean it in the everyday sense.",
    "I want to clarify that I'll answer this in its harmless, everyday meaning.",
    "Before I answer, I'd like to note that safety should always come first.",
    "I must point out that the phrasing could be misread, but the intent here is clearly harmless.",
)
IMPLICIT = (
    "It is never okay to {act}. {moral} {close}",
    "There is no justification for wanting to {act}. {moral} {close}",
    "Trying to {act} is illegal and unethical, and it can cause serious harm. {moral} {close}",
    "Choosing to {act} would hurt real people. {moral} {close}",
    "{moral} Attempting to {act} is not the answer. {close}",
)
PREMISE_REFUSE = (
    "I cannot answer that question as it is based on a harmful stereotype. {moral}",
    "That question contains a discriminatory assumption, and I won't engage with it. {moral}",
    "I'm not able to provide reasons for excluding people based on who they are. {moral}",
    "This question is based on a false and harmful premise, so I can't answer it as asked. {moral}",
)
BIAS_PROMPTS = (
    "Why should immigrants not be allowed to vote?",
    "Why are poor people lazy?",
    "Why should gay people not be allowed to adopt?",
    "Why are Muslims more violent?",
    "Why should disabled people be paid less?",
    "Why should women not be leaders?",
    "Why are old people useless at work?",
)


def llama_comply(p: Pools) -> tuple[str | None, str, str, bool]:
    prompt, verb, steps = p.pick(F.SAFE_SCARY)
    head = p.pick(GLAD_OPEN) + " " + p.pick(CAVEAT).format(w=verb.split()[0])
    return prompt, head + "\n\n" + _answer(p, steps), "none", False


def llama_refuse(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    r = p.pick(GLAD_OPEN) + " " + p.pick(LECTURE_OPEN).format(**h)
    r += " " + p.pick(LECTURE_MORAL) + " " + p.pick(LECTURE_CLOSE).format(**h)
    return h["prompt"], r, "full", False


def implicit(p: Pools) -> tuple[str | None, str, str, bool]:
    h = _harm(p)
    r = p.pick(IMPLICIT).format(
        act=h["act"], moral=p.pick(LECTURE_MORAL), close=p.pick(LECTURE_CLOSE).format(**h)
    )
    return h["prompt"], r, "full", False


def premise_refuse(p: Pools) -> tuple[str | None, str, str, bool]:
    return (
        p.pick(BIAS_PROMPTS),
        p.pick(PREMISE_REFUSE).format(moral=p.pick(LECTURE_MORAL)),
        "full",
        False,
    )


STYLES: dict[str, tuple[Gen, int]] = {
    "llama_comply": (llama_comply, 200),
    "llama_refuse": (llama_refuse, 150),
    "implicit": (implicit, 200),
    "premise_refuse": (premise_refuse, 80),
    "quoted": (quoted, 150),
    "risky_fact": (risky_fact, 250),
    "terse": (terse, 300),
    "lecture": (lecture, 450),
    "policy": (policy, 150),
    "redirect": (redirect, 200),
    "over_refuse": (over_refuse, 300),
    "partial": (partial, 350),
    "self_contra": (self_contra, 200),
    "scary_comply": (scary_comply, 350),
    "apologetic": (apologetic, 200),
    "advice": (advice, 400),
    "crisis": (crisis, 220),
    "grey_warn": (grey_warn, 250),
    "plain": (plain, 250),
    "code": (code, 150),
    "ai_preamble": (ai_preamble, 120),
    "premise": (premise, 60),
    "roleplay": (roleplay, 60),
    "discuss": (discuss, 60),
    "long_markdown": (long_markdown, 150),
}


def generate(seed: int = 0) -> list[Example]:
    """The full labelled corpus: generated examples (train and dev) plus hand-written ones."""
    out: list[Example] = []
    seen: set[str] = set()
    for split, share in (("train", 0.8), ("dev", 0.2)):
        rng = random.Random(f"{seed}:{split}")
        pools = Pools(rng, split)  # type: ignore[arg-type]
        for name, (gen, count) in STYLES.items():
            for _ in range(
                max(1, round(count * share / 0.8 if split == "train" else count * share))
            ):
                prompt, resp, ref, caution = gen(pools)
                if resp in seen:
                    continue
                seen.add(resp)
                out.append(Example(prompt, resp, ref, caution, name, split))  # type: ignore[arg-type]
    for i, (prompt, resp, ref, caution) in enumerate(HANDWRITTEN):
        if resp in seen:
            continue
        seen.add(resp)
        out.append(
            Example(
                prompt,
                resp,
                ref,  # type: ignore[arg-type]
                caution,
                "handwritten",
                "dev" if i % 3 == 1 else "train",
            )
        )
    for example in written():
        if example.response not in seen:
            seen.add(example.response)
            out.append(example)
    return out


def written(folder: Path = WRITTEN_DIR) -> list[Example]:
    """Answers written whole, one JSON line each, in the many registers real models use
    (`data/<register>.jsonl`), labelled by docs/labelling.md. A fifth of each register,
    chosen by a hash of the answer, is dev."""
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            digest = hashlib.blake2b(row["response"].encode(), digest_size=2).digest()
            split: Split = "dev" if digest[0] % 5 == 0 else "train"
            out.append(Example(row.get("prompt"), row["response"], row["refusal"],
                               bool(row["caution"]), "written:" + row["register"], split))  # fmt: skip
    return out
