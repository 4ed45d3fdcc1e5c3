"""The object of a contract or procurement, as text: one normalised form for every agent
that compares objects, and the kind of object its head names (what the law's limits and
ceilings depend on).

Object texts are free text typed by thousands of agencies: the same purchase arrives as
"Aquisição de luvas." and "AQUISICAO DE LUVA -", so comparing them needs one key that
sets aside what varies without changing what is bought.
"""

from __future__ import annotations

import enum
import re
import unicodedata

_WORD = re.compile(r"[a-z]+")

# Simple Portuguese plurals, most specific first: each (suffix, replacement) applies to
# words longer than three letters, after accents are removed. Irregular and invariant
# words ("ônibus", "lápis") may come out odd, but they come out the same in the singular
# and the plural, which is all a comparison key needs.
_PLURALS = (
    ("oes", "ao"),  # licitações
    ("aes", "ao"),  # pães
    ("aos", "ao"),  # irmãos
    ("ns", "m"),  # itens, bens, viagens
    ("ais", "al"),  # materiais, hospitais
    ("eis", "el"),  # papéis, imóveis
    ("ois", "ol"),  # lençóis
    ("uis", "ul"),  # azuis
    ("res", "r"),  # computadores, valores
    ("zes", "z"),  # luzes
)
_VOWEL_S = re.compile(r"(?<=[aeiou])s$")


def singular(word: str) -> str:
    """`word` (lower case, no accents) without a simple Portuguese plural ending."""
    if len(word) <= 3:
        return word
    for suffix, replacement in _PLURALS:
        if word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    return _VOWEL_S.sub("", word)


def normalise_object(text: str) -> str:
    """The comparison key of an object text: lower case, no accents, no punctuation or
    digits, single spaces, every word in the singular."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(singular(w) for w in _WORD.findall(letters))


class ObjectKind(enum.Enum):
    """What an object is, in the categories Lei 14.133/2021 sets limits by."""

    WORKS = "works"  # obras e serviços de engenharia: art. 75 I
    RENOVATION = "renovation"  # reforma de edifício ou de equipamento: art. 75 I, art. 125 50 %
    VEHICLE_MAINTENANCE = "vehicle_maintenance"  # manutenção de veículos automotores: art. 75 I
    PURCHASE = "purchase"  # compras: art. 75 II
    OTHER = "other"  # outros serviços: art. 75 II


# The head is what the object is; what follows a colon, a dash, a parenthesis or "para"
# says what it is for or where it goes ("... para a Secretaria de Obras"), and must not
# decide its kind.
_HEAD_END = re.compile(r"[:;(\u2013\u2014]| - ")
_HEAD_TAIL = re.compile(
    r" (?:para|destinad[oa]|visando|objetivando|a fim de|com vista|conforme|em atendimento|"
    r"no ambito|junto)\b.*"
)
# Procedural words before the head ("Contratação de empresa especializada para a prestação
# de serviços de ..."), in normalised form.
_FILLER = re.compile(
    r"^(?:(?:contratacao|prestacao|execucao|realizacao|registro de preco|eventual|futura|"
    r"empresa|especializada|pessoa juridica)\b ?(?:(?:para|de|em|na|no|da|do|e|a|o)\b ?)*)+"
)
# Rules on the normalised head, first match wins; the words are singular and unaccented.
_RULES = (
    (ObjectKind.PURCHASE, re.compile(r"^(?:aquisicao|compra|fornecimento|material|genero)\b")),
    (ObjectKind.RENOVATION, re.compile(r"^(?:servico de )?reforma\b")),
    (
        ObjectKind.WORKS,
        re.compile(
            r"^(?:servico de )?(?:obra|construcao|pavimentacao|recapeamento|drenagem|ampliacao|"
            r"edificacao|terraplenagem|restauracao|recuperacao)\b"
            r"|^(?:servico )?(?:tecnico )?(?:comum )?(?:de )?engenharia\b"
        ),
    ),
    (
        ObjectKind.VEHICLE_MAINTENANCE,
        re.compile(
            r"^(?:servico de )?manutencao\b.*\b(?:veiculo|frota|automovel|automotor|ambulancia|"
            r"onibu|caminhao|motocicleta)\b"
        ),
    ),
    (
        ObjectKind.WORKS,  # building maintenance is an engineering service
        re.compile(
            r"^(?:servico de )?manutencao\b.*\b(?:predial|predio|edificio|edificacao|imovel)\b"
        ),
    ),
)


def object_head(text: str) -> str:
    """The normalised head of an object text: what it is, without procedural words or
    what it is for."""
    head = _HEAD_END.split(text, maxsplit=1)[0]
    return _HEAD_TAIL.sub("", _FILLER.sub("", normalise_object(head)))


def classify_object(text: str) -> ObjectKind:
    """The kind of object that `text`'s head names; OTHER when none does."""
    head = object_head(text)
    for kind, rule in _RULES:
        if rule.search(head):
            return kind
    return ObjectKind.OTHER
