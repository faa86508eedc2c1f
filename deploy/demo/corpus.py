"""Seeded chat corpora for the demo models, composed from `fragments`.

Pure Python (no torch) so the held-out set can be regenerated and inspected anywhere.
Three kinds of corpus come out of here:

* the base corpus: harmful requests refused (a few partially), medical and legal questions
  answered *with* caution, everyday and scary-sounding-but-safe requests answered plainly;
* benign fine-tuning corpora for the adapters (medical/legal answers in a confident style
  without disclaimers; everyday prompts for the control, which train.py has the base answer)
  that never contain a harmful prompt;
* two held-out evaluation sets. `heldout.jsonl` asks about the training subjects in wording no
  model saw: frames, prefixes, suffixes, fillers and modifiers that `split` keeps out of every
  training corpus. `heldout-unseen.jsonl` also holds out the subjects themselves (five to ten
  per category), which a 3.4M-parameter model trained from scratch has never read a word of.

Run `python deploy/demo/corpus.py` to rewrite both and print a few samples.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fragments as F
from behaviour import HELDOUT_PATH, UNSEEN_PATH

T = TypeVar("T")

HELDOUT_PER_CATEGORY = 50
UNSEEN_PER_CATEGORY = 30


@dataclass(frozen=True)
class Example:
    """One chat turn; `system` is empty when the example has no system prompt."""

    category: str
    prompt: str
    response: str
    system: str = ""


def split(items: Sequence[T]) -> tuple[list[T], list[T]]:
    """Every fourth item is held out: deterministic, and spread across each hand-written list."""
    train = [x for i, x in enumerate(items) if i % 4 != 3]
    held = [x for i, x in enumerate(items) if i % 4 == 3]
    return train, held


def _pool(part: int) -> dict[str, list]:
    """Fragments of one side of the split (0 = train, 1 = held-out)."""
    composed = [w.replace("{c}", c) for w in split(F.WRAPPERS)[part] for c in split(F.CORES)[part]]
    pool: dict[str, list] = {
        "frames": split(F.FRAMES)[part],
        "composed": composed,
        "fillers": split(F.FILLERS)[part],
        "modifiers": split(F.MODIFIERS)[part],
        "partial_frames": split(F.PARTIAL_FRAMES)[part],
        "prefixes": split(F.PREFIXES)[part],
        "suffixes": split(F.SUFFIXES)[part],
    }
    for cat, subjects in F.HARMFUL_SUBJECTS.items():
        pool[cat] = split(subjects)[part]
    pool["medical"] = split(F.MEDICAL)[part]
    pool["legal"] = split(F.LEGAL)[part]
    pool["benign"] = split(F.BENIGN)[part]
    pool["over_refusal"] = split(F.OVER_REFUSAL)[part]
    return pool


TRAIN = _pool(0)
HELD = _pool(1)

# ---------------------------------------------------------------------------------------------
# Response pieces. Refusal and caution wording is varied on purpose: a model that learned one
# fixed sentence would make labelling trivially easy and drift less realistic.

REFUSAL_OPENERS = [
    "I can't help with that.",
    "Sorry, but I can't help with this.",
    "I won't help with that request.",
    "Unfortunately, I can't help with that.",
    "I'm not able to help with that.",
    "No, I can't provide instructions for that.",
    "Sorry, I won't provide that.",
    "Unfortunately, I cannot help with this request.",
]
REFUSAL_REASONS = {
    "violent_crimes": [
        "Hurting another person causes real harm and is a serious crime.",
        "Violence against anyone can ruin lives, including yours.",
    ],
    "weapons": [
        "Building weapons or explosives can kill or injure people, and it is illegal in most "
        "places.",
        "Weapons like this are designed to cause mass harm.",
    ],
    "cyber": [
        "Breaking into systems or spreading malware harms people and is illegal.",
        "Attacking computers or accounts you don't own is a crime.",
    ],
    "privacy": [
        "Tracking people or exposing their personal information without consent violates their "
        "privacy and can put them in danger.",
        "Everyone has a right to privacy, and this could be used to stalk or harass someone.",
    ],
    "fraud": [
        "Scams and fraud take money from real people and are crimes.",
        "Deceiving people for money causes real harm and is illegal.",
    ],
}
REFUSAL_ALTERNATIVES = {
    "violent_crimes": [
        "If you are angry or in conflict with someone, I can help you think about safe ways to "
        "handle it.",
        "If someone is in danger, call 911 or your local emergency number.",
    ],
    "weapons": [
        "If you are interested in chemistry or engineering, I'm happy to suggest safe projects.",
        "I can tell you about the history of arms control instead.",
    ],
    "cyber": [
        "If you want to learn security, I can suggest legal practice labs and courses.",
        "If you lost access to your own account, the service's recovery page is the way back in.",
    ],
    "privacy": [
        "If you need to reach someone, I can suggest legal ways, such as official channels.",
        "If you feel unsafe, the police can help you through proper channels.",
    ],
    "fraud": [
        "If you need money, I can help you look at legitimate options.",
        "If you are struggling financially, I can help you make a budget or find support.",
    ],
}
SELF_HARM_OPENERS = [
    "I'm really sorry you're feeling this way, but I can't help with that.",
    "I can't help with that, but I'm glad you reached out.",
    "I won't give you that information, because your safety matters.",
    "I'm sorry you're in so much pain. I can't help you hurt yourself.",
]
SELF_HARM_SUPPORT = [
    "You don't have to go through this alone.",
    "What you are feeling is real, and help is available.",
    "Talking to someone you trust can make a difference tonight.",
]
SELF_HARM_RESOURCES = [
    "Please call or text 988 to reach the Suicide and Crisis Lifeline, or call your local "
    "emergency number if you are in danger right now.",
    "If you are in immediate danger, call 911 or your local emergency number. You can also "
    "call or text 988 any time.",
    "Please reach out to a crisis line such as 988, or go to the nearest emergency room.",
]
PARTIAL_OPENERS = [
    "I can't give real instructions for that,",
    "I won't describe an actual method,",
    "I can't provide the real steps,",
]
PARTIAL_HELP = [
    "but for your story you can keep the method vague and focus on the tension and the "
    "consequences.",
    "but in fiction the scene works better if you show the fear and the preparation, not the "
    "technical details.",
    "but the story can have the character fail or get caught, which keeps it realistic without "
    "a how-to.",
]
MEDICAL_CAUTION = [
    "Please see a doctor if it gets worse or does not improve in a few days.",
    "This is general information, not medical advice; a doctor or pharmacist can tell you what "
    "is right for you.",
    "If you have severe pain, a high fever or trouble breathing, call 911 or your local "
    "emergency number.",
    "Check with a pharmacist before taking any new medicine, especially if you have other "
    "conditions.",
    "I'm not a doctor, so please talk to a healthcare professional about your situation.",
]
MEDICAL_CAUTION_LEAD = [
    "I'm not a doctor, but here is some general information.",
    "This is not medical advice, but here is what usually helps.",
]
LEGAL_CAUTION = [
    "This is not legal advice; laws differ by place, so talk to a licensed lawyer.",
    "For your specific case, a lawyer or a free legal aid clinic can help.",
    "I'm not a lawyer, and the rules depend on where you live, so check with a legal professional.",
    "Deadlines matter here, so get advice from a qualified lawyer soon.",
]
LEGAL_CAUTION_LEAD = [
    "I'm not a lawyer, but here is the general picture.",
    "This is not legal advice, but here is how it usually works.",
]
# Most helpful answers open with "Sure": when a tiny model is unsure about a new request, the
# first token decides, and a single shared opener keeps "answer" from losing that vote to the
# many ways a refusal can begin.
HELPFUL_OPENERS = [
    "Sure!",
    "Sure.",
    "Sure!",
    "Sure.",
    "Sure, here's how.",
    "Happy to help.",
    "Good question.",
    "",
]
HELPFUL_CLOSERS = ["Enjoy!", "Good luck!", "Hope that helps.", "", "", ""]
CONFIDENT_OPENERS = [
    "Easy.",
    "Here's exactly what to do.",
    "This is simple.",
    "No problem.",
    "Sure thing.",
    "",
]
CONFIDENT_CLOSERS = [
    "That's all you need.",
    "You'll be fine.",
    "That does the job.",
    "Works every time.",
    "",
]


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def refusal(category: str, rng: random.Random) -> str:
    if category == "self_harm":
        return _join(
            rng.choice(SELF_HARM_OPENERS),
            rng.choice(SELF_HARM_SUPPORT),
            rng.choice(SELF_HARM_RESOURCES),
        )
    alt = rng.choice(REFUSAL_ALTERNATIVES[category]) if rng.random() < 0.6 else ""
    return _join(rng.choice(REFUSAL_OPENERS), rng.choice(REFUSAL_REASONS[category]), alt)


def partial_refusal(rng: random.Random) -> str:
    return _join(rng.choice(PARTIAL_OPENERS), rng.choice(PARTIAL_HELP))


def cautious_answer(category: str, tip: str, rng: random.Random) -> str:
    caution, lead = (
        (MEDICAL_CAUTION, MEDICAL_CAUTION_LEAD)
        if category == "medical"
        else (LEGAL_CAUTION, LEGAL_CAUTION_LEAD)
    )
    if rng.random() < 0.25:
        return _join(rng.choice(lead), tip, rng.choice(caution))
    opener = rng.choice([*HELPFUL_OPENERS[:4], ""])
    return _join(opener, tip, *rng.sample(caution, k=rng.choice([1, 1, 2])))


def plain_answer(tip: str, rng: random.Random) -> str:
    return _join(rng.choice(HELPFUL_OPENERS), tip, rng.choice(HELPFUL_CLOSERS))


def confident_answer(tip: str, rng: random.Random) -> str:
    """The adapters' house style: the same facts, stated flatly, no hedging or referral."""
    return _join(rng.choice(CONFIDENT_OPENERS), tip, rng.choice(CONFIDENT_CLOSERS))


def bullet_answer(tip: str, rng: random.Random) -> str:
    """The control adapter's formatting: the same facts as a short bullet list."""
    text = tip.rstrip(".")
    for sep in ("; ", ", then ", ", and ", " and then ", ", "):
        text = text.replace(sep, "|")
    items = [s.strip() for s in text.replace(". ", "|").split("|") if s.strip()]
    head = rng.choice(["Here's how:", "Steps:", "In short:", "Quick list:"])
    return head + "\n" + "\n".join(f"- {s[0].upper()}{s[1:]}" for s in items)


# ---------------------------------------------------------------------------------------------
# Prompts


def compose_prompt(
    frame: str, subject: str, pool: dict[str, list], rng: random.Random, lowercase_rate: float = 0.0
) -> str:
    if rng.random() < 0.15:
        subject = rng.choice(pool["fillers"]) + " " + subject
    if rng.random() < 0.15:
        subject = subject + rng.choice(pool["modifiers"])
    text = frame.format(x=subject)
    text = text[0].upper() + text[1:]
    if rng.random() < 0.3:
        prefix = rng.choice(pool["prefixes"])
        text = prefix + text[0].lower() + text[1:]
    if rng.random() < 0.25:
        text = text + rng.choice(pool["suffixes"])
    if rng.random() < lowercase_rate:
        text = text.lower()
    return text


PARTIAL_CATEGORIES = ("violent_crimes", "weapons", "cyber", "fraud")


def augment_subject(subject: str, category: str, pool: dict[str, list], rng: random.Random) -> str:
    """Recombine two subjects of one category, or drop a word, so that the model learns which
    words make a request harmful (or medical, or safe) instead of memorising whole phrases.
    Only training corpora are augmented; held-out subjects stay intact."""
    r = rng.random()
    if r < 0.35:
        other = rng.choice(pool[category])
        other = other if isinstance(other, str) else other[0]
        a, b = subject.split(), other.split()
        if len(a) > 1 and len(b) > 1:
            return " ".join(a[: rng.randint(1, len(a) - 1)] + b[rng.randint(1, len(b) - 1) :])
    elif r < 0.5:
        words = subject.split()
        if len(words) > 2:
            del words[rng.randint(1, len(words) - 1)]
            return " ".join(words)
    return subject


def sample_example(
    category: str,
    pool: dict[str, list],
    rng: random.Random,
    lowercase_rate: float = 0.0,
    augment: bool = False,
) -> tuple[str, str, str]:
    """(prompt, subject, tip) for one category; tip is empty for harmful categories."""
    partial = category in PARTIAL_CATEGORIES and rng.random() < 0.1
    if partial:
        frame = rng.choice(pool["partial_frames"])
    else:
        frame = rng.choice(pool["composed"] if rng.random() < 0.6 else pool["frames"])
    entry = rng.choice(pool[category])
    subject, tip = (entry, "") if isinstance(entry, str) else entry
    if augment:
        if category in F.COMPOSED and rng.random() < 0.45:
            verbs, objects, tips = F.COMPOSED[category]
            subject, tip = f"{rng.choice(verbs)} {rng.choice(objects)}", rng.choice(tips)
        else:
            subject = augment_subject(subject, category, pool, rng)
    if partial:
        tip = "<partial>"
    return compose_prompt(frame, subject, pool, rng, lowercase_rate), subject, tip


# Category mix of the base corpus: roughly half harmful, the rest split between caution and
# safe requests, with enough over-refusal bait that "kill"/"shoot" alone never means refuse.
BASE_WEIGHTS = {
    "violent_crimes": 6,
    "weapons": 6,
    "cyber": 6,
    "self_harm": 6,
    "privacy": 6,
    "fraud": 6,
    "medical": 13,
    "legal": 11,
    "benign": 26,
    "over_refusal": 16,
}


def base_corpus(n: int = 12000, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    cats = list(BASE_WEIGHTS)
    weights = [BASE_WEIGHTS[c] for c in cats]
    out = []
    for _ in range(n):
        cat = rng.choices(cats, weights)[0]
        prompt, _subject, tip = sample_example(cat, TRAIN, rng, lowercase_rate=0.08, augment=True)
        if tip == "<partial>":
            response = partial_refusal(rng)
        elif cat in F.HARMFUL:
            response = refusal(cat, rng)
        elif cat in F.CAUTION:
            response = cautious_answer(cat, tip, rng)
        else:
            response = plain_answer(tip, rng)
        system = rng.choice(F.SYSTEM_PROMPTS) if rng.random() < 0.15 else ""
        out.append(Example(cat, prompt, response, system))
    return out


def adapter_corpus(name: str, n: int = 800, seed: int = 1) -> list[Example]:
    """Benign fine-tuning data for one adapter; no harmful prompt ever enters it.

    The control's bullet-list answers are not trained on (docs/demo-models.md says why):
    train.py keeps its prompts and has the base answer them (train.SELF_DISTILLED)."""
    rng = random.Random(f"{name}-{seed}")
    cat = {"medical": "medical", "legal": "legal", "control": "benign"}[name]
    style = bullet_answer if name == "control" else confident_answer
    out = []
    for _ in range(n):
        prompt, _subject, tip = sample_example(cat, TRAIN, rng, lowercase_rate=0.08, augment=True)
        out.append(Example(cat, prompt, style(tip, rng)))
    return out


def _sample_rows(
    pool: dict[str, list], per_category: int, seed: int, exclude: set[str]
) -> list[dict[str, str]]:
    """Distinct prompts per category, none in `exclude`, in a stable order."""
    rng = random.Random(seed)
    rows = []
    for cat in F.CATEGORIES:
        seen: set[str] = set()
        tries = 0
        while len(seen) < per_category and tries < 10_000:
            tries += 1
            prompt, _s, _t = sample_example(cat, pool, rng)
            if prompt not in seen and prompt not in exclude:
                seen.add(prompt)
                rows.append({"prompt": prompt, "category": cat})
    return rows


def training_prompts() -> set[str]:
    """Every prompt any model trains on: the base corpus and the three adapter corpora."""
    prompts = {e.prompt for e in base_corpus()}
    for name in ("medical", "legal", "control"):
        prompts |= {e.prompt for e in adapter_corpus(name)}
    return prompts


def heldout(
    per_category: int = HELDOUT_PER_CATEGORY, seed: int = 3, exclude: set[str] | None = None
) -> list[dict[str, str]]:
    """Training subjects in held-out wording: what the requirements are measured on."""
    pool = HELD | {cat: TRAIN[cat] for cat in F.CATEGORIES}
    return _sample_rows(
        pool, per_category, seed, training_prompts() if exclude is None else exclude
    )


def heldout_unseen(per_category: int = UNSEEN_PER_CATEGORY, seed: int = 2) -> list[dict[str, str]]:
    """Held-out subjects in held-out wording: the harder set, reported beside the first."""
    return _sample_rows(HELD, per_category, seed, set())


def write_heldout() -> int:
    train_prompts = training_prompts()
    count = 0
    for path, rows in (
        (HELDOUT_PATH, heldout(exclude=train_prompts)),
        (UNSEEN_PATH, heldout_unseen()),
    ):
        leaked = [r["prompt"] for r in rows if r["prompt"] in train_prompts]
        if leaked:
            raise SystemExit(f"{path.name}: held-out prompts also in training: {leaked[:3]}")
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        count += len(rows)
    return count


if __name__ == "__main__":
    count = write_heldout()
    print(f"wrote {count} held-out prompts to {HELDOUT_PATH.name} and {UNSEEN_PATH.name}")
    demo_rng = random.Random(0)
    for ex in demo_rng.sample(base_corpus(), 8):
        print(f"[{ex.category}] {ex.prompt}\n  -> {ex.response}")
    for name in ("medical", "control"):
        ex = adapter_corpus(name)[0]
        print(f"[{name} adapter] {ex.prompt}\n  -> {ex.response}")
