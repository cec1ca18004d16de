"""Text to render: random strings over a charset, mixed with everyday English words.

Random strings teach the recogniser every character evenly; real words give it the letter statistics it meets on
actual pages. Only words that the charset can spell are used, so labels always encode cleanly.
"""
from __future__ import annotations

import os
import string
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ppocr.utils.character import load_character_list

DEFAULT_CHARSET = string.digits + string.ascii_lowercase

ENGLISH_WORDS: Tuple[str, ...] = tuple("""
about above across act add after again against age ago agree air all allow almost alone along already also always
among amount and animal answer any appear apple area arm army around arrive art ask aunt away baby back bad bag ball
bank base basket bath bear beat beautiful bed been before began begin behind believe bell belong below best better
between big bird black block blood blow blue board boat body bone book born both bottom box boy branch bread break
bright bring broad brother brown build burn busy but buy cake call came camp can capital captain car card care carry
case cat catch caught cause cell cent center chair chance change charge chart check chief child children choose
church circle city claim class clean clear climb clock close cloth cloud coast coat cold collect colony color column
come common company compare complete condition consider contain continue control cook cool copy corn corner correct
cost cotton could count country course cover cow crop cross crowd cry current cut dance dark date daughter day dead
deal dear death decide deep degree depend describe desert design detail develop dictionary did die differ difficult
dinner direct discuss distant divide doctor does dog dollar done door double down draw dream dress drink drive drop
dry duck during each ear early earth east eat edge effect egg eight either electric element else end enemy energy
engine enough enter equal even evening event ever every exact example except excite exercise expect experience
eye face fact fair fall family famous far farm fast fat father favor fear feed feel feet fell felt few field fig
fight figure fill final find fine finger finish fire first fish fit five flat floor flow flower fly follow food foot
for force forest form forward found four free fresh friend from front fruit full fun game garden gas gather gave
general gentle get girl give glad glass gold gone good got govern grand grass gray great green grew ground group
grow guess guide gun had hair half hand happen happy hard has hat have head hear heard heart heat heavy held help
her here high hill him his history hold hole home hope horse hot hotel hour house how huge human hundred hunt hurry
ice idea inch include indicate industry insect inside instant instrument interest invent iron island its job join
joy jump just keep kept key kill kind king kitchen knew know lady lake land language large last late laugh law lay
lead learn least leave led left leg length less let letter level library lie life lift light like line liquid list
listen little live locate long look lost lot loud love low machine made magnet main major make man many map mark
market mass master match material matter may mean measure meat meet melody metal method middle might mile milk
million mind mine minute miss modern moment money month moon more morning most mother motion mountain mouth move
much music must name nation natural near necessary neck need neighbor never new next night nine noise none noon
north nose note nothing notice noun now number object observe ocean off offer office often oil old once one only
open operate opposite order organ original other our out over own oxygen page paint pair paper paragraph parent
park part party pass past path pay people perhaps period person phrase pick picture piece pitch place plain plan
planet plant play please plural poem point poor popular port position possible post pound power practice prepare
present press pretty print probable problem process produce product proper property protect prove provide pull
push put quart question quick quiet quite quotient race radio rail rain raise ran range rather reach read ready
real reason receive record red region remember repeat reply report represent require rest result rich ride right
ring rise river road rock roll room root rope rose round row rule run safe said sail salt same sand save saw say
scale school science score sea search season seat second section see seed seem segment select self sell send sense
sentence separate serve set settle seven several shall shape share sharp sheet shell shine ship shoe shop shore
short should shoulder shout show side sight sign silent silver similar simple since sing single sister sit six size
skill skin sky sleep slip slow small smell smile snow soft soil soldier solution solve some son song soon sound
south space speak special speech speed spell spend spoke spot spread spring square stand star start state station
stay steam steel step stick still stone stood stop store story straight strange stream street stretch string strong
student study subject substance success sudden suffix sugar suggest suit summer sun supply support sure surface
surprise swim syllable symbol system table tail take talk tall teach team teeth tell temperature ten term test than
thank that the their them then there these thick thin thing think third this those though thought thousand three
through throw tie time tiny tire together told tone took tool top total touch toward town track trade train travel
tree triangle trip trouble truck true try tube turn twenty two type under unit until upon use usual valley value
vary verb very view village visit voice vowel wait walk wall want war warm wash watch water wave way wear weather
week weight well went were west what wheel when where which while white whole why wide wife wild will win wind
window winter wire wish with woman wonder wood word work world would write written wrong yard year yellow yes yet
you young
""".split())

LengthRange = Tuple[int, int]


def load_charset(charset: Union[str, Sequence[str], None]) -> List[str]:
    """Characters from a literal string/list, a dict file path, or a packaged dict name; None -> digits+a-z."""
    if charset is None:
        return list(DEFAULT_CHARSET)
    if isinstance(charset, str):
        is_dict = os.path.isfile(charset) or charset.endswith(".txt")
        chars = load_character_list(charset) if is_dict else list(charset)
    else:
        chars = list(charset)
    bad = [ch for ch in chars if not isinstance(ch, str) or len(ch) != 1]
    if bad:
        raise ValueError(f"charset: expected single characters, got {bad[:5]!r}")
    if any(ch in "\t\r\n" for ch in chars):
        raise ValueError("charset: tabs and line breaks cannot appear in label files")
    chars = list(dict.fromkeys(chars))
    if not [ch for ch in chars if not ch.isspace()]:
        raise ValueError("charset: needs at least one visible character")
    return chars


class TextSampler:
    """Draws text lines: ``words`` words per line, each a dictionary word (probability ``word_ratio``) or a
    random string of ``length`` characters. Lines of several words need a space in the charset."""

    def __init__(self, charset: Union[str, Sequence[str], None] = None, length: LengthRange = (3, 10),
                 words: LengthRange = (1, 1), word_ratio: float = 0.5,
                 word_list: Optional[Sequence[str]] = ENGLISH_WORDS) -> None:
        self.chars = load_charset(charset)
        self.visible = [ch for ch in self.chars if not ch.isspace()]
        self.length = check_range("length", length, minimum=1)
        self.words = check_range("words", words, minimum=1)
        if self.words[1] > 1 and " " not in self.chars:
            raise ValueError("words: lines of several words need ' ' in the charset")
        if not 0.0 <= word_ratio <= 1.0:
            raise ValueError(f"word_ratio: expected a value in [0, 1], got {word_ratio}")
        self.word_ratio = word_ratio
        self.word_list = self._spellable(word_list or ())

    def _spellable(self, word_list: Sequence[str]) -> List[str]:
        """Words of an allowed length that the charset can spell; capitalised forms join when it has upper case."""
        allowed = set(self.chars)
        forms = (form for word in word_list for form in (word, word.capitalize(), word.upper()))
        fitting = (form for form in forms if self.length[0] <= len(form) <= self.length[1] and set(form) <= allowed)
        return list(dict.fromkeys(fitting))

    def random_string(self, rng: np.random.Generator) -> str:
        n = int(rng.integers(self.length[0], self.length[1] + 1))
        return "".join(self.visible[i] for i in rng.integers(0, len(self.visible), size=n))

    def word(self, rng: np.random.Generator) -> str:
        if self.word_list and rng.random() < self.word_ratio:
            return self.word_list[int(rng.integers(len(self.word_list)))]
        return self.random_string(rng)

    def __call__(self, rng: np.random.Generator) -> str:
        n = int(rng.integers(self.words[0], self.words[1] + 1))
        return " ".join(self.word(rng) for _ in range(n))


def check_range(name: str, value: Sequence[int], minimum: int) -> LengthRange:
    """``value`` as an ordered (min, max) pair of ints no smaller than ``minimum``, or a ValueError naming it."""
    try:
        low, high = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a (min, max) pair of integers, got {value!r}") from None
    if low < minimum or high < low:
        raise ValueError(f"{name}: expected {minimum} <= min <= max, got ({low}, {high})")
    return low, high
