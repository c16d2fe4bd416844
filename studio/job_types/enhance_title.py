"""`enhance_title` (Starter and up): the creator's thumbnail text -> up to 3 stronger versions.

Input: `{"title", "style_id"?, "emotion"?}`: `title` 1-100 characters (the generate form's
"Thumbnail text": before a ":" the headline, after it the sub-line), `style_id` a style the
creator may use (a stranger's private style is a 404), `emotion` free text up to 60 characters
(the generate form's expressions: excited, shocked, happy, serious, curious, confident,
laughing; its field name `expression` is accepted too).

Result (`Job.result`): `{"suggestions": [{"text", "reason"}, ...], "measured_by"}`: at most 3
suggestions, each `text` under 60 characters (MAX_CHARS) and different from the input (offline,
a title of at most 5 words may come back only re-cased when nothing shorter keeps its hook: "10
things" -> "10 THINGS"), each `reason` one line. Cached by the normalised input (NFKC,
whitespace collapsed; case kept), the style's name, slug and description, the model and
`cache.version`. Price: 1 credit.

With a Gemini key the text model writes the suggestions (structured output, `SCHEMA`), told the
rules below; its answer is trimmed to the limits. Offline (`measured_by: "local"`), `rewrite` is a
deterministic rule-based rewriter built on these published findings:

- Short text: YouTube's Creator Academy asks for thumbnails that "look great at both small and
  large sizes" and titles "concise so they don't get cut-off" ("Tell a story with your title and
  thumbnail", YouTube Creator Academy, 2014 edition); vendor A/B analyses put the best-performing
  thumbnail text at 3-5 words, with each word beyond 7 costing about 8% CTR
  (thumbnailcreator.com, "How Much Text Is Too Much on a Thumbnail?") and keep the main topic to
  about 2 words (tubics help centre, "Elements of high-performing thumbnails"). Rule: at most
  MAX_WORDS (5) words ("vs" not counted), a headline of the title's key words, each phrase kept
  whole: a number with its unit ("Tiny House in 7 Days"), money with the time it took ("$10,000
  in 30 Days"), growth ("0 to 100K Subscribers"), a model number with its name ("iPhone
  17 Pro vs Pixel 10"), a whole set with its place ("Every Pizza in New York"); a leading
  article or task verb ("Learn", "Make") goes before any of those words does.
- Concrete numbers, as digits: in A/B-tested headlines, at least one Arabic integer raised
  click-through by 3.6% at the Washington Post (7,371 experiments) and 5.2% at Upworthy (22,664
  experiments), while written-out numbers ("three") did not have the effect ("News is better
  '24/7' than 'twenty-four/seven'", PsyArXiv preprint, doi:10.31234/osf.io/dkr8f). Rule: number
  words become digits and a number leads the headline when the title has one; no number is
  invented.
- Curiosity gap: curiosity is "a form of cognitively induced deprivation that arises from the
  perception of a gap in knowledge or understanding" (G. Loewenstein, "The Psychology of
  Curiosity: A Review and Reinterpretation", Psychological Bulletin 116(1), 75-98, 1994). Rule:
  one suggestion asks the question the video answers (which one wins, was it worth it, did it
  work) without giving the answer away, in the title's own voice ("we" stays "we"), about a
  whole phrase of the title (never a phrase cut in half or a verb phrase), and never promises
  what the title does not (Creator
  Academy, "Video thumbnails": "give viewers a sneak peek of what's in your video without being
  'clickbaity'"; titles and thumbnails "work together ... while accurately representing what's
  in your video").
- Case: ALL CAPS drew 17% more clicks for entertainment content while mixed case did better for
  educational content (thumbnailcreator.com, same page). Rule: Title Case for how-to and
  explainer titles and for the calm built-in styles (minimal, clean-tech, documentary,
  cinematic), ALL CAPS otherwise.
"""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from typing import Any

from rest_framework import serializers

from generation.models import Job
from generation.providers.base import InvalidJSONReturned, JSONRequest, ProviderError
from generation.registry import CachePolicy, JobOutcome, JobType
from generation.services import JobContext
from studio import services
from studio.prompts import EXPRESSIONS, split_title
from studio.serializers import InputSerializer, OptionalId, Text

MAX_SUGGESTIONS = 3
MAX_CHARS = 59  # suggestions are under 60 characters
MAX_WORDS = 5
REASON_MAX_CHARS = 160
CALM_STYLES = frozenset({"minimal", "clean-tech", "documentary", "cinematic"})
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "suggestions": {
            "type": "array",
            "maxItems": MAX_SUGGESTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "text": {
                        "type": "string",
                        "description": "thumbnail text, at most 5 words, under 60 characters",
                    },
                    "reason": {"type": "string", "description": "one line: why it is stronger"},
                },
                "required": ["text", "reason"],
            },
        }
    },
    "required": ["suggestions"],
}


def _words(text: str) -> list[str]:
    return text.split()


STOPWORDS = frozenset(
    _words(
        """a an the of to in on at for and or but so with without from by about into over under
    after before still i i'm im me my we we're our you you're your he she they them it it's its
    this that these those is are was were be been being am do does did done have has had just
    really very actually how why what when where who which there here than then as if all some
    any every ever can could should would will shall may might must get got gets going gonna
    let's lets"""
    )
)
# Words a phrase cannot end on: articles, prepositions, conjunctions, possessives.
DANGLING = frozenset(
    _words(
        """a an the of to in on at for and or but so with without from by about into over under
    after before as if than then my our your his her their this that these those every vs when where
    why what who how which while because until unless"""
    )
)
# Words a sub-line can drop without losing its meaning ("Only 1 Was Worth It" -> "Only 1 Worth
# It"); not "I" or "we" ("How We Did It" -> "How Did It").
FILLERS = frozenset(
    _words("a an the was were is are be been really just very actually so that my our")
)
TRAILING_VERBS = frozenset(
    {"makes", "make", "made", "happens", "happened", "works", "worked", "goes", "went", "says"}
    # "5 Budget Microphones Under $50 Compared", "Every Pokemon Game Ranked"
    | {"compared", "ranked", "rated", "reviewed", "tested"}
)
# Words after a number that say something of it, not what it counts: "Switch 2 Worth It"
# ("2 Worth"), "5 Microphones Compared".
COUNT_ENDS = STOPWORDS | TRAILING_VERBS | {"worth"}
RANGES = frozenset({"to", "into"})  # "0 to 100K", "$100 into $10,000"
QUALIFIERS = frozenset(
    {"only", "just", "every", "all", "over", "under", "top", "best", "worst", "first"}
)
# Words that name what a number counts when they come before it: "Day 100", "Part 2".
COUNTED = frozenset({"day", "week", "month", "year", "part", "episode", "ep", "level", "round"})
ARTICLES = frozenset({"a", "an", "the"})
NEGATIONS = frozenset({"without"})
OWNERS = frozenset({"my", "our", "your", "his", "her", "their"})
SMALL_WORDS = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "for", "and", "or", "vs"})
UNITS = {
    word: value
    for value, word in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen"
        )
    )
}
TENS = {
    word: 10 * value
    for value, word in enumerate(
        _words("twenty thirty forty fifty sixty seventy eighty ninety"),
        2,
    )
}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# "100", "$200K", "10x", "3rd", "5:00" (a time of day).
NUMBER_TOKEN = re.compile(r"^[$€£]?\d[\d,.]*(?::\d\d)?(?:%|k|m|x|h|s|st|nd|rd|th)?$", re.IGNORECASE)
# What a duration counts ("in 7 days", "after 10 years") and the words that put one after its
# subject: "A House in 7 Days" is the phrase, "7 Days" alone says nothing of the video.
DURATIONS = frozenset(
    _words(
        "second seconds minute minutes hour hours day days week weeks weekend weekends month "
        "months year years"
    )
)
LINKS = frozenset({"like", "as"})  # "Like a Medieval Peasant" is a comparison, not a phrase
DURATION_PREPOSITIONS = frozenset({"in", "after", "for", "under", "within"})
# Verbs of learning a title starts with, before what is learnt and how long it takes: "Learn
# Python in 30 Minutes" is about "Python in 30 Minutes". (Not "Lose Weight in 30 Days": there the
# verb is the point.)
IMPERATIVES = frozenset({"learn", "master"})
# "Every Pizza in New York": a whole set is the phrase. ("All" starts names: "All Star Game".)
EVERY = frozenset({"every"})
PHRASE_PREPOSITIONS = frozenset({"in", "on", "at", "of", "from"})
PLACES = frozenset({"in", "on", "at"})  # "in Hardcore Minecraft", "on the Internet"
EDGE_PUNCTUATION = "\"'\u201c\u201d\u2018\u2019()[]{}.,;:!?\u2026\u2013\u2014|/*#"

ANGLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # A ranking compares ("Every Pokemon Game Ranked: Which Wins?", not "...: Worth It?").
    (
        "compare",
        re.compile(r"\b(vs\.?|versus|compared?|cheap\b.*\bexpensive|ranked|ranking|rated)\b"),
    ),
    # Money spent asks if it was worth it ("I Spent $1,000 on Amazon Mystery Boxes").
    ("verdict", re.compile(r"\b(review|worth|honest|tested|tried|testing|spent\s+[$€£]\d)")),
    # A span of time is a challenge when counted or held ("30 Days", "24 Long Hours", "Day 1",
    # "Every Day for a Year"); "Day in My Life" and "Gym Day" are not ("Did I Make It?" made no
    # sense of them).
    (
        "challenge",
        re.compile(
            r"\b(survived?|challenge|lasted|spent|lived"
            r"|\d[\d,]*\s+(\w+\s+)?(hours?|days?|weeks?)|(day|week)\s+\d+|every\s+(day|hour|week)"
            r"|for\s+a\s+(day|week|month|year))\b"
        ),
    ),
    ("mistake", re.compile(r"\b(mistakes?|wrong|avoid|stop|never|don'?t)\b")),
    (
        "howto",
        re.compile(r"\b(how to|guide|tutorial|tips|ways|steps|learn|explained|beginners?)\b"),
    ),
)
# A span of time said without a number: "I Ate Only Gas Station Food for a Week".
SPAN = re.compile(r"\b(an?\s+(?:day|night|weekend|week|month|year))\b", re.IGNORECASE)
YEAR = re.compile(r"^(19|20)\d\d$")  # "My Dream Setup Tour 2026": no model number
PRICED = re.compile(r"\b(under|for)\s+[$€£]\d")
EDUCATIONAL = re.compile(
    r"\b(how to|guide|tutorial|tips|explained|learn|lesson|course|beginners?|step)\b"
)
# Emotion words (the generate form's expressions and their near synonyms) -> punctuation.
EMOTIONS = (
    (re.compile(r"shock|surpris|amaz|stun|wow|scared|fear"), "?!"),
    (re.compile(r"curio|wonder|confus|puzzl"), "?"),
    (re.compile(r"excit|happy|joy|laugh|fun|angry|mad|hype|thrill"), "!"),
    (re.compile(r"serious|confiden|calm|sad|focus"), ""),
)


class EnhanceTitleInput(InputSerializer):
    """`{"title", "style_id"?, "emotion"?}`: the thumbnail text to improve (not blank), a style
    the caller can use, and a face expression (`expression`, the generate form's name for it,
    is read when `emotion` is blank)."""

    title = Text(max_length=services.TITLE_MAX_CHARS)
    style_id = OptionalId()
    # The faces' expressions the studio offers (as in generate: they go into the Gemini prompt).
    emotion = serializers.ChoiceField(
        choices=EXPRESSIONS, required=False, default="", allow_blank=True
    )
    # The generate form's name for it; `emotion` wins.
    expression = serializers.ChoiceField(
        choices=EXPRESSIONS, required=False, default="", allow_blank=True
    )

    def validate_title(self, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise serializers.ValidationError("Type the thumbnail text to improve.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        expression = attrs.pop("expression", "")
        attrs["emotion"] = attrs.get("emotion") or expression
        style = None
        if attrs.get("style_id") is not None:
            style = services.access_style(self.context["user"], attrs["style_id"])
        attrs["style_name"] = style.name if style else ""
        attrs["style_slug"] = style.slug if style else ""
        attrs["style_description"] = style.description if style else ""
        return attrs


# --- the rewriter -------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """NFKC, whitespace collapsed, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _bare(word: str) -> str:
    return word.strip(EDGE_PUNCTUATION).casefold()


# "one" after these is no number: "the best one", "this one", "which one".
PRONOUN_ONE = frozenset({"the", "this", "that", "which", "each", "every", "any", "no"})


def numbers_as_digits(text: str) -> str:
    """Number words as Arabic digits: "Twenty-Five Days" -> "25 Days", "a hundred" -> "100".
    Ordinals, "one" in phrases like "one of" or as a pronoun ("the best one": "BEST 1") and a
    lone "zero" ("Zero Training" is none, "0 Training" reads as a score) stay as they are."""
    words = text.replace("-", " - ").split()
    out: list[str] = []
    i = 0
    while i < len(words):
        j, total, current, used = i, 0, 0, False
        if _bare(words[j]) == "a" and j + 1 < len(words) and _bare(words[j + 1]) in SCALES:
            current, j = 1, j + 1
        while j < len(words):
            bare = _bare(words[j])
            if bare in UNITS:
                current += UNITS[bare]
            elif bare in TENS:
                current += TENS[bare]
            elif bare in SCALES and (used or current):
                scale = SCALES[bare]
                if scale == 100:
                    current *= 100
                else:
                    total += current * scale
                    current = 0
            elif bare in ("-", "and") and used and j + 1 < len(words):
                nxt = _bare(words[j + 1])
                if nxt not in UNITS and nxt not in TENS:
                    break
            else:
                break
            used = used or bare not in ("-", "and")
            j += 1
        value = total + current
        single = j - i == 1
        follower = _bare(words[j]) if j < len(words) else ""
        previous = _bare(words[i - 1]) if i else ""
        idiom = _bare(words[i]) == "zero" or (
            _bare(words[i]) == "one"
            and (follower in ("of", "day") or previous in PRONOUN_ONE or previous.endswith("est"))
        )
        if used and not (single and idiom):
            tail = "".join(ch for ch in words[j - 1] if ch in EDGE_PUNCTUATION)
            out.append(f"{value}{tail}")
            i = j
        else:
            out.append(words[i])
            i += 1
    return " ".join(out).replace(" - ", "-")


def _tokens(text: str) -> list[str]:
    return [w for w in (word.strip(EDGE_PUNCTUATION) for word in text.split()) if w]


def _is_number(token: str) -> bool:
    return bool(NUMBER_TOKEN.match(token))


def _name_like(token: str, title_case: bool) -> bool:
    """A product or proper name: "iPhone", "GTA", or a capitalised word in a title that is not
    written in Title Case ("Pixel" in "iPhone 17 vs Pixel 10 camera test")."""
    letters = [ch for ch in token if ch.isalpha()]
    if len(letters) < 2:
        return False
    if any(ch.isupper() for ch in token[1:]):
        return True
    return not title_case and token[0].isupper()


def _title_case(tokens: list[str]) -> bool:
    words = [t for t in tokens if t[:1].isalpha() and t.casefold() not in SMALL_WORDS]
    return bool(words) and sum(t[0].isupper() for t in words) >= 0.8 * len(words)


def number_phrase(tokens: list[str], title_case: bool) -> list[str]:
    """The first number with the name or qualifier just before it ("iPhone", "only") and up
    to 2 content words after it: "I Tried 100 Coffee Shops" -> ["100", "Coffee", "Shops"]. A
    duration after its subject keeps the subject ("We Built a House in 7 Days" -> "a House in
    7 Days"); one before a verb stops at its unit ("30 Days Living Like..." -> "30 Days").
    [] without a number."""
    for i, token in enumerate(tokens):
        if not _is_number(token):
            continue
        phrase = [token]
        before = tokens[i - 1] if i else ""
        folded = before.casefold()
        if before and (folded in QUALIFIERS or folded in COUNTED or _name_like(before, title_case)):
            phrase.insert(0, before)
        content = 0
        for follower in tokens[i + 1 : i + 4]:
            if ":" in token and follower.casefold() in ("am", "pm") and phrase[-1] is token:
                phrase.append(follower)  # "5:00 AM": no stop word here, nor one of the 2 words
                continue
            if content == 2 or _is_number(follower) or follower.casefold() in COUNT_ENDS:
                break
            phrase.append(follower)
            content += 1
            if follower.casefold() in DURATIONS:
                break  # "30 Days", not "30 Days Living"
        if phrase == [token] and tokens[i + 1 : i + 2] and tokens[i + 1].casefold() in RANGES:
            # Growth from one number to the next: "0 to 100K Subscribers" (a lone "0" said
            # nothing, and "1 Year" led instead), "$100 into $10,000".
            upto = number_phrase(tokens[i + 2 :], title_case)
            if upto[:1] == tokens[i + 2 : i + 3]:
                whole = len(upto) <= 3 and upto[0][:1] not in "$€£"  # not "$10,000 Flipping"
                return [token, tokens[i + 1], *(upto if whole else upto[:1])]
        if phrase == [token] and token[:1] in "$€£":
            # Money and the time it took: "How I made $10,000 in 30 days" -> "$10,000 in 30
            # Days" (the money was dropped and "30 Days" led).
            took = tokens[i + 1 : i + 4]
            if (
                len(took) == 3
                and took[0].casefold() in ("in", "within")
                and _is_number(took[1])
                and took[2].casefold() in DURATIONS
            ):
                return [token, *took]
        if phrase == [token] and folded == "at":
            # An age: "Learning to Skateboard at 40" -> "Skateboard at 40" (a lone "40" said
            # nothing, and the rest of the title was no phrase: no suggestion at all)
            phrase = [*_subject_before(tokens[: i - 1]), before, token]
            return phrase if len(phrase) > 2 else []
        if phrase == [token] and token[:1] not in "$€£" and not YEAR.match(token):
            # Nothing counted after it: a model number, with its name ("Is the Tesla Model 3
            # Still Worth It" -> "Tesla Model 3", not "3 Still Worth").
            name = list(itertools.takewhile(_capitalised, reversed(tokens[max(0, i - 2) : i])))
            phrase = [*reversed(name), token]
        duration = len(phrase) > 1 and phrase[-1].casefold() in DURATIONS
        if duration and phrase[0] is token and folded in DURATION_PREPOSITIONS:
            subject = _subject_before(tokens[: i - 1])
            start = i - 1 - len(subject)
            preposition = tokens[start - 1].casefold() if subject and start > 0 else ""
            made = _subject_before(tokens[: start - 1]) if preposition in ("from", "in") else []
            if made and made[0].casefold() in ARTICLES:
                # Where a thing comes from or is is not the thing: "a Tiny House From Scratch in
                # 48 Hours" -> "Tiny House in 48 Hours" ("Scratch in 48 Hours" lost the subject),
                # "a City in Minecraft in 1 Week" -> "A City in 1 Week".
                subject, start = made, start - 1 - len(made)
            elif preposition in NEGATIONS:
                subject, start = [tokens[start - 1], *subject], start - 1  # "Without Money"
            # Not when the subject is where the title starts ("Learn Spanish in 30 Days": that
            # is the title again; its topic makes the headline beside "30 Days") or another
            # duration ("Every Day for 365 Days").
            if start > 0 and subject and subject[-1].casefold() not in DURATIONS:
                return [*subject, before, *phrase]
            if start == 0 and len(subject) == 2 and subject[0].casefold() in IMPERATIVES:
                return [subject[1], before, *phrase]  # "Python in 30 Minutes"
        place = _place_after(tokens[i + len(phrase) - phrase.index(token) :])
        if duration and place and _count(phrase) + len(place) <= MAX_WORDS:
            return [*phrase, *place]  # "100 Days in Hardcore Minecraft", not "100 Days"
        if duration and len(phrase) == 2 and before and folded not in STOPWORDS:
            # A bare duration takes its verb and who did it: "We Survived 7 Days" (the place
            # did not fit), not "7 Days".
            return _with_subject(tokens, [before, *phrase])
        if len(phrase) == 2 and folded in ("under", "over") and token[:1] in "$€£":
            # "Building a Gaming PC for Under $500" -> "Gaming PC Under $500"
            end = i - 2 if i >= 2 and tokens[i - 2].casefold() in ("for", "at") else i - 1
            subject = [t for t in _subject_before(tokens[:end]) if t.casefold() not in ARTICLES]
            if len(subject) == 2:  # a thing ("Gaming PC"), not a verb ("built for under")
                return [*subject, *phrase]
        return phrase
    return []


def _capitalised(token: str) -> bool:
    """A capitalised word that is no stop word nor number: "Model" of "Model 3"."""
    return token[:1].isupper() and token.casefold() not in STOPWORDS and not _is_number(token)


def _place_after(tokens: list[str]) -> list[str]:
    """The place `tokens` start with, whole: "in", "on" or "at", an article, and the content
    words up to the next stop word ("in Hardcore Minecraft", "in the Desert"); []."""
    if not tokens or tokens[0].casefold() not in PLACES:
        return []
    end = 2 if len(tokens) > 1 and tokens[1].casefold() in ARTICLES else 1
    while end < len(tokens) and tokens[end].casefold() not in STOPWORDS:
        end += 1
    place = tokens[:end]
    return place if place[-1].casefold() not in STOPWORDS and not _is_number(place[-1]) else []


def _subject_before(tokens: list[str]) -> list[str]:
    """Up to 2 content words (with an article or owner before them) that end `tokens`: the
    subject a duration is about ("We Built a House" -> ["a", "House"], "Why I Left Google" ->
    ["Left", "Google"], "Control My Life" -> ["My", "Life"]); [] when `tokens` ends on a stop
    word."""
    subject: list[str] = []
    for token in reversed(tokens):
        folded = token.casefold()
        if (folded in ARTICLES or folded in OWNERS) and subject:
            subject.insert(0, token)
            break
        if folded in STOPWORDS or len(subject) == 2:
            break
        subject.insert(0, token)
    return subject


def every_phrase(tokens: list[str]) -> list[str]:
    """ "Every" with the content words after it (all of them, within MAX_WORDS, or []) and,
    within MAX_WORDS, a place or kind after "in", "on", "at", "of" or "from": "We Tried Every
    Pizza in New York" -> "Every Pizza in New York", "Ranking Every Taylor Swift Album" ->
    "Every Taylor Swift Album"; [] without one, or with fewer than 2 content words ("Every
    Day")."""
    for i, token in enumerate(tokens):
        if token.casefold() not in EVERY:
            continue
        phrase = [token]
        j = i + 1
        if j < len(tokens) and tokens[j].casefold() == "single":
            j += 1  # "Every Single Fast Food Burger" is every one: 4 words, none cut
        while j < len(tokens) and tokens[j].casefold() not in STOPWORDS:
            phrase.append(tokens[j])
            j += 1
        if len(phrase) > MAX_WORDS:
            return []  # cut, the set would lose its head noun ("Every Fast Food Chicken")
        if j + 1 < len(tokens) and tokens[j].casefold() in PHRASE_PREPOSITIONS:
            place: list[str] = []
            for follower in tokens[j + 1 : j + 4]:
                if follower.casefold() in STOPWORDS and not (
                    follower.casefold() in ARTICLES and not place
                ):
                    break
                place.append(follower)
            beyond = j + 1 + len(place)
            if beyond < len(tokens) and tokens[beyond].casefold() not in STOPWORDS:
                place = []  # cut short it is another place: "From Harry Potter" of "... Cookbook"
            if place and place[-1].casefold() not in ARTICLES:
                if len(phrase) + 1 + len(place) > MAX_WORDS and place[0].casefold() in ARTICLES:
                    place = place[1:]  # "Every Country in World" reads worse than none
                    place = [] if len(place) < 2 else place
                if place and len(phrase) + 1 + len(place) <= MAX_WORDS:
                    phrase += [tokens[j], *place]
        while phrase[-1].casefold() in TRAILING_VERBS:
            phrase.pop()  # "Every New Photographer Makes"
        content = [t for t in phrase[1:] if t.casefold() not in PHRASE_PREPOSITIONS]
        return phrase if len(content) >= 2 else []
    return []


MODEL_SUFFIXES = frozenset({"pro", "max", "ultra", "plus", "mini", "lite", "air", "xl"})


def compare_phrase(tokens: list[str]) -> list[str]:
    """ "A vs B" with up to 2 words on each side, or [] without "vs"/"versus"."""
    for i, token in enumerate(tokens):
        if token.casefold() in ("vs", "versus") and 0 < i < len(tokens) - 1:
            left = [t for t in tokens[max(0, i - 2) : i] if t.casefold() not in STOPWORDS]
            # "iPhone 17 Pro vs ...", "Tesla Model 3 vs ...": the number belongs to the name
            # before it
            model = bool(left) and (_is_number(left[-1]) or left[-1].casefold() in MODEL_SUFFIXES)
            if len(left) == 2 and any(map(_is_number, left)) and i >= 3 and model:
                name = tokens[i - 3]
                if name.casefold() not in STOPWORDS and not _is_number(name):
                    left.insert(0, name)
            right = []
            for t in tokens[i + 1 : i + 3]:
                if t.casefold() in STOPWORDS:
                    break
                right.append(t)
            # ... and after it: "... vs Nintendo Switch 2" (the Switch is another console),
            # "... vs Galaxy S25 Ultra"
            after = tokens[i + 3] if len(right) == 2 and i + 3 < len(tokens) else ""
            if (
                _is_number(after)
                or (after.casefold() in MODEL_SUFFIXES and any(ch.isdigit() for ch in right[-1]))
                or (len(after) == 1 and after.isupper())  # "Xbox Series X"
            ):
                right.append(after)
            # ... or the noun its last word describes: "Cheap vs Expensive Olive Oil", "10 Cheap
            # vs Expensive Kitchen Gadgets" ("...EXPENSIVE KITCHEN" ended on a modifier)
            end = i + 1 + len(right)
            ended = _is_number(right[-1]) if right else True
            while not ended and end < len(tokens) and tokens[end].casefold() not in STOPWORDS:
                if _count([*left, *right]) == MAX_WORDS:
                    return []  # the noun does not fit: no half of it
                right.append(tokens[end])
                end += 1
            if left and right:
                return [*left, "vs", *right]
    return []


def chunks(tokens: list[str], title_case: bool) -> list[list[str]]:
    """Runs of content words (split at stop words; "a", "an", "the" kept inside a run, "without"
    opening one, an activity's place kept with it: "Camping in a Snowstorm"), best first: most
    content words, then one holding a name, then the later one (English titles tend to end on
    their topic: "...of the cheapest gaming laptop"). A verb at a run's end ("...photographer
    makes", "...Compared") is dropped."""
    runs: list[list[str]] = []
    current: list[str] = []
    for at, token in enumerate(tokens):
        folded = token.casefold()
        if folded in ("a", "an", "the") and current:
            current.append(token)
        elif (
            len(current) == 1
            and current[0].casefold().endswith("ing")
            and _place_after(tokens[at:])
        ):
            current.append(token)  # an activity keeps its place: "Camping in a Snowstorm"
        elif folded in NEGATIONS:
            # "Without" opens its run: "Elden Ring: Without Leveling Up?" keeps what the video
            # does not do ("Leveling Up?" said the opposite; "Ring Without Leveling Up" cut a
            # name).
            if current:
                runs.append(current)
            current = [token]
        elif folded in STOPWORDS or folded in ("vs", "versus"):
            if current:
                runs.append(current)
            current = []
        else:
            current.append(token)
    if current:
        runs.append(current)
    cleaned = []
    for run in runs:
        # (a "one" left as a word is a pronoun: "Find the Best One")
        while run and run[-1].casefold() in ("a", "an", "the", "one", *NEGATIONS, *TRAILING_VERBS):
            run = run[:-1]
        if run:
            cleaned.append(run)

    def score(item: tuple[int, list[str]]) -> tuple[int, bool, int]:
        position, run = item
        return (min(_content(run), 3), any(_name_like(t, title_case) for t in run), position)

    return [run for _, run in sorted(enumerate(cleaned), key=score, reverse=True)]


def _content(run: list[str]) -> int:
    """The words of `run` that say something: no stop words ("a", "without", "in")."""
    return sum(t.casefold() not in STOPWORDS for t in run)


RELATIVES = frozenset({"that", "which", "who"})
CLAUSE_SUBJECTS = frozenset({"i", "we", "you", "they"})


def main_clause(tokens: list[str]) -> list[str]:
    """`tokens` without the clause that describes a word of them: the topic is what it
    describes. "My 5:00 AM Morning Routine That Changed My Life" and "10 Excel Tricks That Will
    Save You Hours" end before "That" ("The Truth About That Changed", "You Hours: ..."); a
    clause without "that" ("This Changed the Way I Study") takes the phrase it completes with
    it ("Changed the Way" is half a thought). "That" before a noun is no clause ("That Trick")."""
    for at in range(1, len(tokens)):
        word, before = tokens[at].casefold(), tokens[at - 1].casefold()
        after = tokens[at + 1].casefold() if at + 1 < len(tokens) else ""
        if before in STOPWORDS:
            continue  # "What I Eat", "If You Don't Sleep": no noun described
        if word in RELATIVES - {"that"} or (
            word == "that" and (after in STOPWORDS or after.endswith("ed"))
        ):
            return tokens[:at]
        if word in CLAUSE_SUBJECTS:
            start = at
            while start and tokens[start - 1].casefold() not in STOPWORDS - ARTICLES:
                start -= 1
            return tokens[:start]
    return tokens


def core_phrase(run: list[str]) -> list[str]:
    """A run of more than 4 words cut to its last 4, without leading past-tense verbs or a
    leading "like"/"as": English phrases end on their head noun ("Family Tried Living Off Grid"
    -> "Living Off Grid"; its first 4 words, "Family Tried Living Off", stop mid-phrase;
    "Living Like a Medieval Peasant" -> "a Medieval Peasant")."""
    if len(run) <= 4:
        return run
    tail = run[-4:]
    if tail[0].casefold() in PLACES and len(run) <= MAX_WORDS:
        return run  # an activity with its place: "Investing in the Stock Market" ("In the ...")
    while len(tail) > 2 and (tail[0].casefold().endswith("ed") or tail[0].casefold() in LINKS):
        tail = tail[1:]
    return tail


def _tail(tokens: list[str]) -> list[str]:
    """The last MAX_WORDS words without the stop words that start them: English titles end on
    their topic ("Why I Quit My Job at Google" -> "Quit My Job at Google", not "Why I Quit My
    Job")."""
    if len(tokens) <= MAX_WORDS:
        return tokens
    tail = tokens[-MAX_WORDS:]
    while (
        tail
        and (tail[0].casefold() in DANGLING or tail[0].casefold() in STOPWORDS)
        and tail[0].casefold() not in QUALIFIERS
    ):
        tail = tail[1:]
    content = [t for t in tail if t.casefold() not in STOPWORDS]
    return tail if len(content) >= 2 else tokens[:MAX_WORDS]


# Who did it or whose it is: kept before a headline that starts right after one.
SUBJECTS = frozenset({"i", "we", "you", "my", "our", "your"})
AUXILIARIES = frozenset(_words("can could do does did should would will are is was were"))


def _with_subject(tokens: list[str], phrase: list[str]) -> list[str]:
    """`phrase` with the subject or owner the title puts right before it ("How I Made Money
    Online" -> "I Made Money Online", "Why My Channel Died" -> "My Channel Died"): without it the
    headline reads as an order ("Made Money Online") or loses whose it is. Unchanged when the
    title has none there or the phrase has MAX_WORDS words already."""
    if not phrase or len(phrase) >= MAX_WORDS:
        return phrase
    for at in range(1, len(tokens) - len(phrase) + 1):
        if tokens[at : at + len(phrase)] == phrase:
            before = tokens[at - 1]
            asked = at > 1 and tokens[at - 2].casefold() in AUXILIARIES
            # ... unless that is the whole title again ("My Morning Routine"): no suggestion;
            # nor the subject of a question ("Can You Beat Elden Ring" is no "You Beat ...").
            if before.casefold() in SUBJECTS and len(phrase) + 1 < len(tokens) and not asked:
                return ["I" if before.casefold() == "i" else before, *phrase]
            return phrase
    return phrase


def _split(title: str) -> tuple[str, str]:
    """Headline and sub-line. As in the renderer (studio.prompts.split_title) only ": " (colon
    and space) splits at a colon: "My 5:00 AM Routine" is one headline."""
    lines = split_title(title)  # ": " or the full-width colon
    if lines.main and lines.sub:
        return lines.main, lines.sub
    for separator in (" - ", " | ", " \u2014 ", " \u2013 "):
        if separator in title:
            head, sub = title.split(separator, 1)
            if head.strip() and sub.strip():
                return head.strip(), sub.strip()
    return title, ""


# Initialisms creators type in lower case that Title Case would turn into names ("Pc", "Diy");
# none is also a common English word ("us", "it" are left out).
ACRONYMS = frozenset(
    {
        "ai",
        "asmr",
        "ceo",
        "cpu",
        "diy",
        "ev",
        "fps",
        "gpu",
        "gta",
        "mma",
        "nba",
        "nfl",
        "nyc",
        "pc",
        "ps5",
        "rpg",
        "ssd",
        "tv",
        "uk",
        "usa",
        "vr",
    }
)


DECADE = re.compile(r"^'?\d+s\W*$")  # "1950s", "'90s", "20s": never "1950S"


def _case(text: str, upper: bool) -> str:
    """ALL CAPS or Title Case; names written with a small first letter and a capital inside
    ("iPhone", "eBay", "iOS") stay as written either way."""
    if upper:
        return " ".join(
            word
            if (word[:1].islower() and any(ch.isupper() for ch in word[1:])) or DECADE.match(word)
            else word.upper()
            for word in text.split(" ")
        )
    words = text.split()
    out = []
    for i, word in enumerate(words):
        if any(ch.isupper() for ch in word[1:]) or any(ch.isdigit() for ch in word):
            out.append(word)  # "iPhone", "AI", "10x" as written
        elif word.strip(EDGE_PUNCTUATION).casefold() in ACRONYMS:
            out.append(word.upper())  # "Gaming PC", not "Gaming Pc"
        elif (
            i and word.strip(EDGE_PUNCTUATION).casefold() in SMALL_WORDS and words[i - 1][-1] != ":"
        ):
            out.append(word.casefold())
        else:
            out.append(word[:1].upper() + word[1:].casefold())
    return " ".join(out)


def _fit(words: list[str], limit: int = MAX_WORDS) -> str:
    """At most `limit` words and MAX_CHARS characters, never ending on a word that needs one
    after it (DANGLING: "I Ran Every Day for" of "I Ran Every Day for a Year"; "Worth It" and
    "Tells You" keep their last word). A leading article goes first when the words are too many
    ("A Tiny House in 7 Days" -> "Tiny House in 7 Days", not "A Tiny House in 7"); "vs" is not
    counted (COUNTED_OUT)."""
    if _count(words) > limit and len(words) > 1 and words[0].casefold() in ARTICLES:
        words = words[1:]
    if _count(words) > limit and words[-1].casefold() in DURATIONS:
        words = words[-limit:]  # "Cabin in 30 Short Days", not "Tiny Cabin in 30 Short"
    kept: list[str] = []
    for word in words:
        if _count([*kept, word]) > limit:
            break
        kept.append(word)
    while len(kept) > 1 and _bare(kept[-1]) in DANGLING:
        kept = kept[:-1]
    text = " ".join(kept)
    while len(text) > MAX_CHARS and " " in text:
        text = text.rsplit(" ", 1)[0]
    return text[:MAX_CHARS].rstrip(" :,-")


# Connectors too small to count as a word to read: "IPHONE 17 PRO VS PIXEL 10" is 5 words.
COUNTED_OUT = frozenset({"vs", "vs."})


def _count(words: list[str]) -> int:
    """Words to read, without COUNTED_OUT."""
    return sum(word.casefold() not in COUNTED_OUT for word in words)


def _fits(text: str) -> bool:
    """Within the word limit (one more word when split into headline and sub-line) and
    MAX_CHARS."""
    if ":" in text:  # headline and sub-line: every word counts
        return 0 < len(text.split()) <= MAX_WORDS + 1 and len(text) <= MAX_CHARS
    return 0 < _count(text.split()) <= MAX_WORDS and len(text) <= MAX_CHARS


def angle_of(title: str) -> str:
    """What the video promises, from keywords: compare, verdict, challenge, mistake, howto,
    question (ends with "?") or plain."""
    folded = title.casefold()
    if ANGLES[0][1].search(folded):
        return "compare"  # "iPhone 16 vs Pixel 9: Which Camera Wins?" compares before it asks
    if folded.split(" ", 1)[0] in IMPERATIVES:
        return "howto"  # a lesson, not a challenge: "Learn Excel in 1 Hour" ("Did I Make It?")
    if folded.rstrip().endswith("?") and not re.search(r"\bworth\b", folded):
        return "question"  # but "Is the Tesla Model 3 Still Worth It?" asks for a verdict
    for angle, pattern in ANGLES:
        if pattern.search(folded):
            return angle
    if PRICED.search(folded):
        return "verdict"  # a thing bought under a price: "Gaming PC Under $500: Worth It?"
    return "plain"


def _punctuation(emotion: str) -> str | None:
    folded = emotion.casefold()
    for pattern, mark in EMOTIONS:
        if pattern.search(folded):
            return mark
    return None


NUMERAL_REASON = (
    "Leads with the number {number} in digits, in {words} words: headlines with a numeral drew "
    "more clicks in Washington Post and Upworthy A/B tests."
)
NUMBER_INSIDE_REASON = (
    "Keeps the number {number} in digits, in {words} words: headlines with a numeral drew "
    "more clicks in Washington Post and Upworthy A/B tests."
)
SHORT_REASON = (
    "{words} words instead of {original}: 3-5 words stay readable at phone size; the video "
    "title can carry the rest."
)
HOOK_REASON = (
    "Keeps the hook in {words} words, the clause the title turns on: the rest can go in the "
    "video title."
)
AS_IS_REASON = (
    "Already {words} words, so it fits a thumbnail as it is, {case}: nothing shorter keeps "
    "what makes it interesting."
)
GAP_REASON = (
    "Asks the question the video answers without giving the result away: Loewenstein's "
    "information gap makes viewers click to close it."
)
SUBLINE_REASON = (
    "Big headline, small sub-line (the part after the colon): the payoff stays on the image."
)
TOPIC_REASON = "Topic first as the headline, the hook as the sub-line: it reads at a glance."
CALM_REASON = "Calm, unpunctuated text suits the {emotion} expression: face and text agree."
EMOTION_REASON = "Its punctuation matches the {emotion} expression: face and text tell one story."


def _headline_worthy(phrase: list[str], title_case: bool) -> bool:
    """Two words or more that are no stop words, or a name ("Minecraft"): what can stand as a
    headline ("Is It Worth It: Worth It?" stood on one)."""
    words = [t for t in phrase if t.casefold() not in STOPWORDS - NEGATIONS]
    return len(words) > 1 or any(_name_like(t, title_case) for t in words)


def _whole(phrase: list[str]) -> str:
    """`phrase` at 3 words, or all 4 when it has 4: cutting one word of a 4-word phrase cuts it
    in half ("Nurse Working Night" of "nurse working night shifts"). "" when the cut leaves a
    verb without its object ("I Bought" of "I Bought the Cheapest Tesla")."""
    text = _fit(phrase, 4 if len(phrase) == 4 else 3)
    kept = text.split()
    start = 1 if phrase[:1] != kept[:1] else 0  # _fit may drop a leading article
    cut = phrase[start + len(kept) : start + len(kept) + 1]
    # nor a phrase cut between two of its words ("Every Single Fast" of "... Fast Food Burger",
    # "0 to 1" of "0 to 1 Million Subscribers")
    halved = [t.casefold() for t in kept[-1:] + cut if t.casefold() not in STOPWORDS]
    if cut and (cut[0].casefold() in ARTICLES | OWNERS or len(halved) == 2):
        return ""
    return text


DETERMINERS = frozenset({"this", "these", "that", "my", "our", "your", "the"})
SPANS_OF_LIFE = frozenset({"day", "days", "week", "month", "year", "life", "morning", "night"})


def _lead_in(tokens: list[str], word: str) -> str:
    """The article or place preposition right before `word` in `tokens` ("The" of "The
    Truth", "in" of "in Ohio", "on the" of "on the Internet": "...: The Internet" lost where),
    or ""."""
    for at, (before, token) in enumerate(itertools.pairwise(tokens)):
        place = at and before.casefold() == "the" and tokens[at - 1].casefold() in PLACES
        if token == word and place:
            return f"{tokens[at - 1]} {before}"
        if token == word and before.casefold() in ("the", "in", "on", "at", "from"):
            return before
    return ""


def _in(tokens: list[str], run: list[str]) -> bool:
    """Whether `run` is a place in `tokens`: after "in", "on" or "at" ("in New York"), not a
    time ("in 2 Years")."""
    at = _at(tokens, run)
    before = [t.casefold() for t in tokens[max(0, at - 2) : at]]
    if before[-1:] and before[-1] in ARTICLES:
        before = before[:-1]
    return bool(before) and before[-1] in PLACES and not _is_number(run[0])  # "in 2 Years"


def _at(tokens: list[str], run: list[str]) -> int:
    """Where `run` first starts in `tokens`; len(tokens) if nowhere."""
    return next((at for at in range(len(tokens)) if tokens[at : at + len(run)] == run), len(tokens))


def _after(tokens: list[str], run: list[str]) -> str:
    """The word after `run`'s first place in `tokens`, folded; "" at the end or if absent."""
    end = _at(tokens, run) + len(run)
    return tokens[end].casefold() if end < len(tokens) else ""


def _determiner(title: str, phrase: list[str]) -> str:
    """The title's determiner right before `phrase` ("this budgeting trick" -> "This "), so
    "The Truth About" keeps its article; "" if there is none."""
    words = [_bare(word).casefold() for word in title.split()]
    first = _bare(phrase[0]).casefold() if phrase else ""
    for index, (before, word) in enumerate(itertools.pairwise(words)):
        if word == first and before in DETERMINERS:
            if index and words[index - 1] in PHRASE_PREPOSITIONS | {"with"}:
                # The object of a preposition is part of another phrase: "(A Day) in My Life"
                # is not about "My Life", "Camping in a Snowstorm With My Dog" not about "My
                # Dog".
                return ""
            return before.capitalize() + " "
    return ""


# --- what a suggestion must be: a whole phrase that keeps the title's hook --------------------

# The surprising or emotional word a title turns on: a suggestion that drops it says something
# else ("MY CHANNEL" of "The truth about my channel", "EAT SUGAR FOR 30 DAYS" of "I Didn't Eat
# Sugar for 30 Days", "BUY THE PS5 PRO" of "Don't Buy the PS5 Pro").
HOOKS = frozenset(
    _words(
        """truth secret secrets nobody everyone everybody quit quitting failed fail failing never
    banned fired broke exposed lied regret ruined scam don't didn't can't won't isn't
    stop stopped"""
    )
)
# Words that describe the noun after them: a phrase never ends on one ("5 BUDGET MECHANICAL",
# "CHEAP VS EXPENSIVE OLIVE" end on "Oil"'s "Olive"; see `_cut_inside`).
MODIFIERS = frozenset(
    _words(
        """cheap expensive budget best worst new old big small first last top only entire whole
    perfect easy extreme ultimate real fake free viral weird modern full mechanical single
    every most least"""
    )
)
# Function words of the Latin-script languages creators often title in: the rules read English.
FOREIGN = frozenset(
    _words(
        """de la el los las les des du et und der die das ich mi je con por para avec pour nur
    une una que como cómo habe ist mit le il est mein meine ma mon mes nos em um uma não en"""
    )
)


def _english(title: str) -> bool:
    """Whether the rules can read `title`: Latin letters only and no foreign function word
    without an English one ("Ich habe 30 Tage lang..." read as English was "30 TAGE LANG")."""
    for ch in title:
        if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
            return False
    words = {_bare(w) for w in title.split()}
    return len(words & FOREIGN) < 2 or bool(words & (STOPWORDS - {"i", "a"}))


def hook_phrase(tokens: list[str]) -> list[str]:
    """The clause the title's first hook word stands in, whole: who did it ("I", "we", "the"
    before it), the hook, and the words after it up to the next preposition or conjunction, with
    an "about"/"of" phrase when the whole fits ("I quit my job to travel the world" -> "I quit
    my job", "The truth about my channel" -> all of it); [] without a hook or when the clause is
    longer than MAX_WORDS."""
    at = next((k for k, t in enumerate(tokens) if t.casefold() in HOOKS), None)
    if at is None:
        return []
    start = at
    if start and tokens[start - 1].casefold() in SUBJECTS | ARTICLES | {"everyone", "nobody"}:
        start -= 1
    if start and tokens[start - 1].casefold() not in STOPWORDS:
        return []  # a clause describing a noun: "Things You Didn't Know", "The Day I Quit"
    end = at + 1
    keep = OWNERS | ARTICLES | {"this", "that", "these", "those", "it", "me", "you", "everything"}
    while end < len(tokens) and (
        tokens[end].casefold() not in STOPWORDS or tokens[end].casefold() in keep
    ):
        end += 1
    if end < len(tokens) and tokens[end].casefold() in ("about", "of"):
        more = end + 1
        while more < len(tokens) and (
            tokens[more].casefold() not in STOPWORDS or tokens[more].casefold() in keep
        ):
            more += 1
        thing = [t for t in tokens[end + 1 : more] if t.casefold() not in keep]
        if more - start <= MAX_WORDS and more > end + 1:
            end = more
        elif 1 < len(thing) <= 3 and end - start + 2 + len(thing) <= MAX_WORDS + 1:
            # Too long whole: the thing as the headline, the hook about "it" as the sub-line
            # ("BUDGETING TRICK: NOBODY TALKS ABOUT IT" of "Nobody talks about this budgeting
            # trick"; "NOBODY TALKS" said nothing).
            return [*thing, ":", *tokens[start : end + 1], "It"]
    phrase = tokens[start:end]
    while phrase and phrase[-1].casefold() in ENDS_BADLY:
        phrase = phrase[:-1]
    # Two words that say something ("I STOPPED", "THE TRUTH" alone say nothing)
    if _content(phrase) < 2 or _count(phrase) > MAX_WORDS:
        return []
    return phrase


PREPOSITIONS = frozenset(_words("in on at of to for from with by about into over under"))
OBJECTS = frozenset(_words("this it them me you him her us everything everyone"))
# A phrase ends on none of these: it needs a word after it. ("This", "That" end one as objects:
# "NOBODY TALKS ABOUT THIS".)
ENDS_BADLY = (DANGLING - {"this", "that", "these", "those"}) | MODIFIERS


QUANTIFIERS = frozenset(_words("any every some each no"))
# Verbs a title may open with, before its object: "Learn Excel in 1 Hour" -> "EXCEL IN 1 HOUR".
OPENING_VERBS = frozenset(
    _words(
        """learn master make build buy stop watch try cook get meet beat survive save lose grow
    fix eat play quit start read ask rate rank"""
    )
)


def _cut_inside(tokens: list[str], side: list[str], beside: list[str]) -> bool:
    """Whether `side` (a headline or sub-line, folded) is a run of the title cut inside a noun
    phrase: the title goes on with a content word right after it ("...EXPENSIVE KITCHEN" of
    "kitchen gadgets") or right before it, unless that word is a verb ("Tried Gordon Ramsay's
    ..."): "FUNDS EXPLAINED" of "Index Funds Explained". `beside` is the suggestion's other
    line: "PASSIVE INCOME: THE TRUTH" says what "The Truth" is about."""
    folded = [t.casefold() for t in tokens]
    n = len(side)
    for at in range(len(folded) - n + 1):
        if folded[at : at + n] != side:
            continue
        after = folded[at + n] if at + n < len(folded) else ""
        then = folded[at + n + 1] if at + n + 1 < len(folded) else ""
        before = folded[at - 1] if at else ""
        # (a verb or "worth" after it starts another phrase: "SWITCH 2" of "Switch 2 Worth It",
        # "$100 INTO $10,000" of "... Flipping Items")
        verb_after = after in COUNT_ENDS or after.endswith("ing")
        # (a number or name ends whole: "iPhone 17 vs Pixel 10" of "... Camera Test")
        if after and not verb_after and not _is_number(after) and not _is_number(side[-1]):
            return True
        if after in ("and", "&") and then and then not in STOPWORDS:
            return True  # "EXTREME HIDE" of "Extreme Hide and Seek"
        if after in OBJECTS | OWNERS:
            # the verb's object: "NOBODY EXPECTED" of "Nobody Expected This", "I FINALLY
            # CLEANED" of "... My Garage"
            return True
        if after in ("of", "about") and not _is_number(side[-1]):
            # what it is of or about, unless the other line says it: "NOBODY TALKS" of "...
            # About This", "IN THE LIFE" of "Day in the Life of a Software Engineer"
            rest = [t for t in folded[at + n + 1 :] if t not in ARTICLES]
            if not beside or rest[: len(beside)] != beside or side[0] in PREPOSITIONS:
                return True
        if before in QUANTIFIERS:
            return True  # "LANGUAGE FAST" of "Learn Any Language Fast", "TRAINING" of "No ..."
        if not at or side[0] in STOPWORDS or _is_number(side[0]):
            return False  # a phrase of its own: "...: IN GEOMETRY DASH", "THE TRUTH ABOUT ..."
        # Cut from its number or its name: "SHORT DAYS" of "30 Short Days", "AIR REVIEW" of
        # "M4 MacBook Air Review". (Other words before it may be verbs: "We Spent 24 Hours".)
        # ("CAMERA TEST" of "Pixel 10 Camera Test" is not cut: the 10 is the Pixel's)
        title_case = _title_case(tokens)
        named = at > 1 and _name_like(tokens[at - 2], title_case)
        if (_is_number(before) and not named) or _name_like(tokens[at - 1], title_case):
            return True
        # ... or from a number's unit ("MORNING STRETCH" of "10 Minute Morning Stretch"), or
        # from the noun the title opens with ("FUNDS EXPLAINED" of "Index Funds Explained"; a
        # verb may open it: "Learn Excel", "Cleaning My House")
        counted = at > 1 and _is_number(folded[at - 2]) and before not in STOPWORDS
        opener = at == 1 and before not in STOPWORDS | OPENING_VERBS
        return counted or (opener and not before.endswith(("ing", "ed")))
    return False


def _sound(text: str, tokens: list[str], question: bool) -> bool:
    """Whether a suggestion reads as a phrase a designer would print: no side ends on a word that
    needs one after it (DANGLING, MODIFIERS) or is a lone word asked ("MRBEAST?"), none is a
    run of the title cut inside a phrase (`_cut_inside`), and none is a question's end without
    the question ("CREATINE SAFE" of "Is Creatine Safe?")."""
    folded_title = [t.casefold() for t in tokens]
    sides = re.split(r"(?<=[?!]) |: ", text)
    for index, side in enumerate(sides):
        beside = [w.casefold() for s in sides[:index] + sides[index + 1 :] for w in _tokens(s)]
        asked = side.rstrip("!").endswith("?")
        words = [w.casefold() for w in _tokens(side)]
        if not words:
            return False
        if " ".join(words) in TEMPLATES:
            continue
        if words[-1] in ENDS_BADLY:
            return False
        if asked and len(words) == 1:
            return False
        if _cut_inside(tokens, words, beside):
            return False
        n = len(words)
        at_end = n < len(folded_title) and folded_title[-n:] == words
        if question and at_end and (not asked or len(sides) == 1):
            return False  # "CREATINE SAFE?" of "Is Creatine Safe?"
    return True


# The rewriter's own sub-lines and questions (see `rewrite`).
TEMPLATES = frozenset(
    {
        "which wins",
        "which one wins",
        "worth it",
        "did i make it",
        "did we make it",
        "could you do it",
        "are you doing this",
        "here's how",
    }
)


def _hooks(tokens: list[str]) -> set[str]:
    return {t.casefold() for t in tokens if t.casefold() in HOOKS}


def rewrite(title: str, *, style_slug: str = "", emotion: str = "") -> list[dict[str, str]]:
    """Up to 3 `{"text", "reason"}` rewrites of `title`, deterministic (see the module
    docstring for the rules and their sources): (1) short and concrete, number first; (2) a
    curiosity gap; (3) headline and sub-line, punctuated for `emotion`. Each text has at most
    MAX_WORDS words (one more when split by a colon), at most MAX_CHARS characters, and
    differs from the title, but for a title that already fits when nothing shorter reads as a
    whole phrase with its hook: that title then, in the suggestions' case. A title the rules
    cannot read (not English) gets only that."""
    title = normalize(title)
    typed = title
    upper = not EDUCATIONAL.search(title.casefold()) and style_slug not in CALM_STYLES
    if not _english(title):
        return _as_is(typed, upper, [])
    lettered = [w for w in title.split() if any(ch.isalpha() for ch in w)]
    if lettered and sum(w.isupper() for w in lettered) >= 0.8 * len(lettered):
        # ALL CAPS says nothing of which words are names: read it as Title Case ("MY 5:00 AM
        # MORNING ROUTINE" was "MY" the name of a product); the suggestions are cased anew.
        title = string.capwords(title.casefold())
    first_word = title.split(" ", 1)[0]
    if not _title_case(_tokens(title)) and first_word[1:] == first_word[1:].casefold():
        # Sentence case capitalises its first word, no name ("Day in the life of a software
        # engineer" made "DAY" a headline: "DAY: SOFTWARE ENGINEER").
        title = first_word[:1].casefold() + title[1:]
    digits = numbers_as_digits(title)
    head, sub = _split(digits)
    tokens = _tokens(head)
    title_case = _title_case(_tokens(digits))
    clause = main_clause(tokens)
    runs = chunks(clause, title_case)
    numeral = (
        compare_phrase(tokens)
        or number_phrase(tokens, title_case)
        or number_phrase(_tokens(sub), title_case)
    )
    if len(numeral) == 1:
        numeral = []  # a bare number ("$5" of "$5 a day") says nothing on its own
    # The key phrases with the number phrase's words taken out ("Pixel 10 camera test" ->
    # "camera test"), best first.
    # A price alone says nothing ("$50" of "Under $50 Compared"; a year does: "...: 2026").
    rest = [
        kept
        for run in runs
        if (kept := [t for t in run if t not in numeral])
        and not (kept[0][:1] in "$€£" and all(map(_is_number, kept)))
    ]
    rest.sort(key=lambda run: -min(3, sum(t.casefold() not in NEGATIONS for t in run)))
    # A place is where the topic is: "Software Engineer in New York" is not about "New York"
    # (when the two say as much; "Google" of "Why I Quit My Job at Google" is no more "Job").
    if len(rest) > 1 and _in(tokens, rest[0]) and not _in(tokens, rest[1]):
        rest[:2] = rest[1::-1] if len(rest[1]) >= max(2, min(3, len(rest[0]))) else rest[:2]
    # A title of one long run is its own headline: cut, it lost a word of a name ("Swift Eras
    # Tour Vlog" of "Taylor Swift Eras Tour Vlog"), unless it starts with its verb ("Testing").
    one_run = bool(rest) and rest[0] == tokens and len(tokens) > 4
    one_run = one_run and not tokens[0].casefold().endswith(("ing", "ed"))
    topic = _with_subject(tokens, core_phrase(rest[0]) if rest and not one_run else [])
    if (
        numeral
        and len(topic) == 1
        and topic[0].casefold() in IMPERATIVES
        and numeral[0] in tokens
        and tokens.index(numeral[0]) == tokens.index(topic[0]) + 1
    ):
        # "Learn Python in 30 Minutes": the number phrase took "Python"; the headline beside
        # its duration is the whole task ("Learn Python: 30 Minutes").
        topic = [topic[0], numeral[0]]
        numeral_tail = numeral[-2:]
    else:
        # "Amazon Rainforest: 7 Days", not "...: We Survived 7 Days"
        timed = len(numeral) > 2 and numeral[-1].casefold() in DURATIONS
        verb = timed and numeral[-3].casefold() not in STOPWORDS and _is_number(numeral[-2])
        numeral_tail = numeral[-2:] if verb else numeral
    whole_set = every_phrase(tokens)
    if whole_set and not set(whole_set) & set(numeral):
        topic = whole_set
    other = rest[1][:3] if len(rest) > 1 else []
    angle = angle_of(title)
    mark = _punctuation(emotion) if emotion else None
    candidates: list[tuple[str, str]] = []

    # 1. Short and concrete: the number-led phrase, else the title's key phrase.
    # One word ("Truth" of "The Truth: What Nobody Tells You") is not a headline: the whole
    # headline then.
    # ... nor one of a clause ("This Changed the Way I Study Forever" is no "This").
    tail = _tail(clause)
    # Nor a bare duration when the topic can lead ("7 Days", "3 Years", "1 Year" of "...from 0
    # to 100K subscribers in one year"): the duration goes to the sub-line.
    bare = len(numeral) == 2 and numeral[-1].casefold() in DURATIONS and len(topic) > 1
    key = (
        (numeral if not (bare and _headline_worthy(topic, title_case)) else [])
        or (topic if len(topic) > 1 else [])
        or (tail if len(tail) > 1 else [])
    )
    first = _fit(key)
    number = next((t for t in key if _is_number(t)), None)
    if number:
        said = NUMERAL_REASON if _is_number(first.split()[0]) else NUMBER_INSIDE_REASON
        candidates.append((first, said.format(number=number, words=_count(first.split()))))
    else:
        reason = SHORT_REASON.format(words=len(first.split()), original=len(title.split()))
        candidates.append((first, reason))

    # 2. Curiosity gap: the question the video answers, left open. The lead is a whole phrase of
    # the title (3 words, or 4 if that is the phrase: "Nurse Working Night" cut one in half),
    # and the question speaks as the title does ("We survived" -> "Did We Make It?").
    # A lone word is no lead ("Year" of "I Ran Every Day for a Year"): the key phrase then.
    phrase = (
        key
        if numeral and angle != "compare"
        else (topic if _headline_worthy(topic, title_case) else key)
    )
    # A challenge's span of time, the last one ("Living on $1 a Day for a Week" lasts a week)
    spans = [*SPAN.finditer(digits)] if angle == "challenge" else []
    span = spans[-1] if spans else None
    # The duration in the number phrase ("Days" of "A House in 7 Days", "100 Days in Minecraft")
    unit = next((k for k, t in enumerate(numeral) if k and t.casefold() in DURATIONS), 0)
    if unit and angle == "howto":
        # "5 Minutes? Here's How" asks nothing: a how-to asks about its task ("Leaky Faucet")
        task = [t for t in numeral[: max(0, unit - 2)] if t.casefold() not in ARTICLES]
        phrase = task or topic
    elif unit:
        # "7 Days: Did We Make It?", not "A House in 7 Days: ..."
        # (a question keeps its verb: "Survive 24 Hours?", not "24 Hours?")
        phrase = numeral[unit - (2 if angle == "question" else 1) : unit + 1]
    elif span:
        phrase = span[1].split()  # "A Week: Did I Make It?" ("Only Gas Station Food: ..." is 7)
    lead = _whole(phrase)
    we = re.search(r"\b(we|us|our)\b", title.casefold()) is not None
    folded_title = title.casefold()
    i = re.search(r"\b(i|i'm|i've|me|my)\b", folded_title) is not None
    you = re.search(r"\b(you|your)\b", folded_title) is not None
    # The question speaks as the title does: a title about "you" never claims "I" did it.
    made_it = (
        "Did We Make It?" if we else ("Could You Do It?" if you and not i else "Did I Make It?")
    )
    # "The Truth About" needs a thing to be about: a phrase the title puts a determiner before
    # ("this budgeting trick"), not a verb phrase ("The Truth About Finally Cleaned").
    # Nor a truth about the truth ("The Truth: What Nobody Tells You").
    noun = next(
        (
            run
            for run in rest
            if _determiner(title, run)
            and "truth" not in {t.casefold() for t in run}
            # nor half of one ("The Truth About the Rise" of "The Rise and Fall of ...", "My
            # Job" of "I Quit My Job to Travel the World": the video is about the travel)
            and _after(tokens, run) not in ("and", "or", "of", "to")
            # "The Truth About My Day" (or Life, Week) promises what the video does not
            and not (len(run) == 1 and run[0].casefold() in SPANS_OF_LIFE)
        ),
        [],
    )
    # ... and only of a title that promises a hidden side ("How the Internet Works" and "The
    # Problem With Influencers" promise no truth)
    hidden = re.search(r"\b(why|truth|secrets?|nobody|really|actually|real)\b", folded_title)
    about = f"The Truth About {_determiner(title, noun)}{_whole(noun)}" if noun and hidden else ""
    compared_things = (
        topic
        if _headline_worthy(topic, title_case)
        else ([] if "vs" in (t.casefold() for t in numeral) else numeral)
    )
    hooks: dict[str, tuple[str, str | None]] = {
        # The two sides are the first suggestion; cut short here they would be one side.
        # Without "vs" the number phrase names what is compared ("5 Budget Microphones").
        "compare": (
            f"{_whole(compared_things)}: Which Wins?" if compared_things else "",
            "Which One Wins?",
        ),
        # No fallback: "Was It Worth It?", "Did I Make It?" and "Here's How" alone say nothing
        # of the video ("I Ate Only Gas Station Food for a Week" -> "Did I Make It?").
        "verdict": (f"{lead}: Worth It?", None),
        "challenge": (f"{lead}: {made_it}", None),
        "mistake": ("Are You Doing This?", "Are You Doing This?"),
        "howto": (f"{lead}? Here's How", None),
        "question": (f"{_fit(topic or key, 3)}: {_fit(other, 3)}?", f"{lead}?"),
        # No fallback: a bare phrase with a question mark ("Nurse Working Night?") asks nothing.
        "plain": (about, None),
    }
    hook, fallback = hooks[angle]
    if not _headline_worthy(other, title_case) and angle == "question":
        # "Haunted House: Survive?" asked of a lone verb
        hook = fallback or hook
    worthy = span or _headline_worthy(lead.split(), title_case)
    if angle not in ("plain", "mistake") and not worthy:
        hook = ""  # "Year: Did I Make It?" leads with a lone word: the plain question instead
    if angle == "question" and not _headline_worthy(lead.split(), title_case):
        fallback = None  # "Worth?" of "Is It Worth It?": a lone word asks nothing
    gap = hook if hook and _fits(hook) else fallback
    if gap:
        candidates.append((gap, GAP_REASON))

    # 3. Headline and sub-line (the studio prints what follows ":" as the sub-line).
    if sub:
        # (an article inside goes with its noun: "WORTH UPGRADE" of "Worth the Upgrade?")
        payoff = [
            w
            for k, w in enumerate(_tokens(sub))
            if w.casefold() not in FILLERS or (k and w.casefold() in ARTICLES)
        ]
        # "100 coffee shops" -> "100 SHOPS"; a comparison keeps both sides or is left out.
        compared = angle == "compare" and numeral
        if len(key) <= 2 or compared:
            headline = key
        elif _is_number(key[0]):
            # its unit: "100 Days" of "100 Days in Minecraft" (not "100 Minecraft")
            headline = [
                key[0],
                [*itertools.takewhile(lambda t: t.casefold() not in STOPWORDS, key)][-1],
            ]
        else:
            headline = key[:4]  # "Tiny House Tour", never its first and last word
        words = {word.casefold() for word in payoff}
        if {word.casefold() for word in headline} <= words:
            # The number came from the sub-line: the headline's own phrase, then the number
            # ("Tiny House Tour: Under $5000"), not the sub-line twice.
            third = f"{_whole(topic)}: {_fit(numeral)}" if topic else ""
        elif compared and len(headline) > 2:
            third = ""  # both sides do not fit beside a sub-line
        else:
            third = f"{_fit(headline, 4)}: {_fit(payoff, 4)}"
        third_reason = SUBLINE_REASON
    else:
        # A lone common word makes no headline: "Time: Cook Perfect Rice" of "...Every Time",
        # "Built: A House in 7 Days".
        third_reason = TOPIC_REASON
        if numeral and _headline_worthy(topic, title_case):
            third = f"{_whole(topic)}: {_fit(numeral_tail)}"
        elif topic and _headline_worthy(other, title_case):
            # ... unless the two are one phrase, then whole or not at all: "Cheapest Way to Eat
            # Healthy", not "Cheapest Way: Eat Healthy"; no "Nobody Talks: iPhone Feature"
            end = _at(tokens, other) + len(other)
            linked = _after(tokens, other) in ("to", "about") and 0 < _at(tokens, topic) - end < 3
            joined = " ".join(tokens[_at(tokens, other) : _at(tokens, topic) + len(topic)])
            third = f"{_fit(other, 3)}: {_whole(topic)}"
            if linked:
                third = joined if _fits(joined) else ""
                third_reason = SHORT_REASON.format(words=len(third.split()), original=len(tokens))
            # A place is the sub-line: "Software Engineer: In New York"
            where = _lead_in(tokens, other[0])
            placed = f"{_whole(topic)}: {where} {_fit(other, 3)}"
            if where and _in(tokens, other) and _fits(placed) and _tokens(placed) != tokens:
                third = placed  # (not the title again: "Hardest Level in Geometry Dash")
        elif len(other) == 1 and _headline_worthy(topic, title_case):
            # A lone word is no headline, but with its article or place it makes a sub-line:
            # "Intermittent Fasting: The Truth", "Abandoned Mall: In Ohio", "...: 2026".
            lead_in = "" if _is_number(other[0]) else _lead_in(tokens, other[0])
            if lead_in or _is_number(other[0]):
                third = f"{_whole(topic)}: {lead_in} {other[0]}".replace(":  ", ": ")
                third_reason = SUBLINE_REASON
            else:
                third = ""
        else:
            third = ""
    if third and mark is not None:
        third = third.rstrip("?!.") + mark
        feeling = emotion.strip().casefold()
        third_reason = (EMOTION_REASON if mark else CALM_REASON).format(emotion=feeling)
    if third:
        candidates.append((third, third_reason))

    # 0. The hook's own clause leads when the others would drop it ("I QUIT MY JOB" of "I quit
    # my job to travel the world"; "TRAVEL THE WORLD" says nothing surprising).
    # Words the title parts with "?", "!" or ".": a suggestion never joins them ("BUDGET PHONE
    # ONEPLUS 13R REVIEW" of "Best Budget Phone? OnePlus 13R Review").
    raw = [w for w in head.split() if w.strip(EDGE_PUNCTUATION)]  # as `tokens`, with punctuation
    ends = [
        k + 1
        for k in range(len(raw) - 1)
        if raw[k].rstrip("\"')\u201d\u2019").endswith(("?", "!", "."))
    ]
    folded_tokens = [t.casefold() for t in tokens]
    breaks = {(folded_tokens[k - 1], folded_tokens[k]) for k in ends}
    clause_end = ends[0] if ends else len(tokens)  # the hook's clause: "Stop Buying Coffee?"
    hook_clause = hook_phrase(tokens[:clause_end])
    if ":" in hook_clause:
        candidates.insert(0, (" ".join(hook_clause).replace(" : ", ": "), SUBLINE_REASON))
    elif hook_clause and hook_clause != tokens:
        candidates.insert(0, (" ".join(hook_clause), HOOK_REASON.format(words=len(hook_clause))))
    title_hooks = _hooks(tokens)
    question = head.rstrip().endswith("?")

    suggestions: list[dict[str, str]] = []
    seen = {re.sub(r"[^\w]+", " ", t.casefold()).strip() for t in (title, digits)}
    for text, reason in candidates:
        text = _case(text.strip(), upper)
        if not _fits(text):
            continue  # cutting it would cut a phrase in half
        if not _sound(text, tokens, question):
            continue  # half a phrase ("5 BUDGET MECHANICAL", "NOBODY TALKS")
        folded_words = [t.casefold() for t in _tokens(text)]
        if breaks & set(itertools.pairwise(folded_words)):
            continue
        if title_hooks and not title_hooks & set(folded_words) and reason != GAP_REASON:
            continue  # the hook dropped ("MY CHANNEL" of "The truth about my channel")
        if any(not side.strip(" ?!") for side in f" {text} ".split(": ")) or text.endswith(":"):
            continue  # a headline without its sub-line or the other way round ("eBay:")
        folded = re.sub(r"[^\w]+", " ", text.casefold()).strip()
        if not folded or folded in seen:
            continue
        seen.add(folded)
        suggestions.append({"text": text, "reason": reason})
    return _as_is(typed, upper, suggestions)[:MAX_SUGGESTIONS]


def _as_is(title: str, upper: bool, suggestions: list[dict[str, str]]) -> list[dict[str, str]]:
    """`suggestions`, or when there are none the title itself cased for a thumbnail if it fits
    (MAX_WORDS words, MAX_CHARS characters) and the case changes it: "10 things" -> "10
    THINGS". A script without case, or whose capitals change its letters ("ß" -> "SS"), is
    never touched."""
    if suggestions:
        return suggestions
    text = _case(title, upper)
    if len(text) != len(title) or text == title or not _fits(text):
        return []
    if text.casefold() != title.casefold():
        return []  # the case map changed a letter, not only its case
    reason = AS_IS_REASON.format(
        words=len(text.split()), case="in capitals" if upper else "in Title Case"
    )
    return [{"text": text, "reason": reason}]


# --- Gemini --------------------------------------------------------------------------------------


def gemini_prompt(params: dict[str, Any]) -> str:
    lines = [
        "You write the text printed ON a YouTube thumbnail (not the video title).",
        f'The creator\'s current thumbnail text: "{params["title"]}".',
    ]
    if params.get("style_name"):
        style = params["style_name"]
        if params.get("style_description"):
            style += f" ({params['style_description']})"
        lines.append(f"Thumbnail style: {style}.")
    if params.get("emotion"):
        lines.append(f"The face on the thumbnail looks {params['emotion']}.")
    lines.append(
        "Suggest up to 3 stronger versions. Rules: at most 5 words and under 60 characters "
        'each; a ":" splits headline and sub-line; write numbers as digits and lead with a '
        "number the text already has, never invent facts or numbers; at least one suggestion "
        "opens a curiosity gap without giving the answer away or misrepresenting the video. "
        "For each, give a one-line reason."
    )
    return "\n".join(lines)


def clean_suggestions(answer: dict[str, Any], title: str) -> list[dict[str, str]]:
    """The model's suggestions within the limits: texts trimmed to MAX_CHARS at a word,
    reasons to their first line (REASON_MAX_CHARS), empty and duplicate ones (and the input)
    dropped, at most 3. Raises InvalidJSONReturned (retried) if none is left."""
    items = answer.get("suggestions")
    out: list[dict[str, str]] = []
    seen = {normalize(title).casefold()}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = normalize(str(item.get("text") or "")).strip('"“”')
        if len(text) > MAX_CHARS:
            text = _fit(text.split(), limit=len(text.split()))
        reason = normalize(
            str(item.get("reason") or "").splitlines()[0] if item.get("reason") else ""
        )
        if len(reason) > REASON_MAX_CHARS:
            reason = reason[: REASON_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
        if not text or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        out.append({"text": text, "reason": reason or "Shorter and more specific."})
    if not out:
        raise InvalidJSONReturned("enhance_title answer without usable suggestions")
    return out[:MAX_SUGGESTIONS]


class NoSuggestions(ProviderError):
    """The offline rules found nothing to suggest (e.g. a title of emoji alone): the job fails
    and is refunded rather than charging for an empty answer (not retried)."""

    code = "no_suggestions"
    message = (
        "No suggestion: the offline rules found nothing shorter or stronger to say for this "
        "text. Try the words of your video's topic; a Gemini key adds AI-written suggestions."
    )


# --- the job type --------------------------------------------------------------------------------


class EnhanceTitle(JobType):
    name = "enhance_title"
    label = "Better titles"
    input_serializer = EnhanceTitleInput
    feature = "enhance_title"
    rate_limit_route = "enhance_title"
    result_kind = "json"
    result_template = "studio/jobs/enhance_title.html"
    model_kind = "text"
    time_limit_seconds = 120
    # Bumped with every change to the offline rules: cached answers are kept 30 days.
    # v6: names, subjects and questions kept whole (no "Did I Make It?" alone, "0 Training")
    # v7: money and growth lead ("$10,000 in 30 Days", "0 to 100K Subscribers"), no bare duration
    # v8: the hook kept ("I QUIT MY JOB"), no phrase cut or ended on a modifier, a short title
    # as it is when nothing shorter reads, non-English text only cased
    # v9: no cut from a title's opening noun, a number's unit or "any"; "Learn X" is a lesson
    cache = CachePolicy(version="title-v9")  # per creator: the title is theirs until published

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return {
            "title": validated["title"],
            "style_id": validated.get("style_id"),
            "emotion": validated.get("emotion", ""),
        }

    def cache_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """Everything the answer depends on: Gemini's prompt carries the style's description
        too, and custom styles have no slug (two creators' styles may share a name). The text
        keeps its case: the rules read names from it ("iPhone", "Gordon Ramsay") and Gemini's
        prompt sends it as typed, so "testing the new iphone camera" answered "Testing the new
        iPhone camera" with "THE NEW IPHONE CAMERA" when its case was folded."""
        return {
            "title": normalize(validated["title"]),
            "emotion": normalize(validated.get("emotion", "")).casefold(),
            "style": [
                validated["style_name"],
                validated["style_slug"],
                validated["style_description"],
            ],
        }

    def snapshot(self, *, validated: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The input with copies of the style's name, slug and description."""
        return {
            **self.fingerprint_input(validated),
            "style_name": validated["style_name"],
            "style_slug": validated["style_slug"],
            "style_description": validated["style_description"],
        }

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        params = job.params

        def compute() -> dict[str, Any]:
            if ctx.model.id == "local":
                suggestions = rewrite(
                    params["title"],
                    style_slug=params.get("style_slug", ""),
                    emotion=params.get("emotion", ""),
                )
                if not suggestions:
                    raise NoSuggestions(f"no offline rewrite of {params['title']!r}")
            else:
                request = JSONRequest(
                    prompt=gemini_prompt(params), schema=SCHEMA, model=ctx.model.id
                )
                suggestions = ctx.call(
                    lambda provider: clean_suggestions(
                        provider.generate_json(request).data, params["title"]
                    )
                )
            return {"suggestions": suggestions, "measured_by": ctx.model.id}

        return ctx.run_json(compute)
