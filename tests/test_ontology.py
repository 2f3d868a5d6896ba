"""EPIC-100 ontology lookups, EPIC-55 mapping, sub-action verbs."""
import pytest

from leap_cli import ontology as o


def test_sizes_and_ids_match_the_official_files():
    assert len(o.verbs()) == 97 and len(o.nouns()) == 300
    assert [c.id for c in o.nouns()] == list(range(300))
    assert o.nouns()[0].key == "tap" and o.verbs()[0].key == "take"
    assert len(o.epic55_nouns()) == 352  # ids 0..351, 0 being "Nothing"


@pytest.mark.parametrize("word, key", [
    ("tap", "tap"), ("tap:water", "tap"), ("water:tap", "tap"), ("carrots", "carrot"),
    ("knives", "knife"), ("tomatoes", "tomato"), ("chopping board", "board:chopping"),
    ("towel_kitchen", "towel:kitchen"), ("Cupboards", "cupboard"), ("washing liquid", "liquid:washing"),
    ("teaspoon", "spoon"),
])
def test_noun_lookup(word, key):
    assert o.noun_key(word) == key


@pytest.mark.parametrize("word", ["faucet", "spaceship", "", "   "])
def test_unknown_nouns_are_none_not_guessed(word):
    assert o.noun_key(word) is None and o.noun_id(word) is None


@pytest.mark.parametrize("word, key", [("turn on", "turn-on"), ("pick-up", "take"), ("washing", "wash"),
                                        ("opens", "open"), ("grab", "take"), ("put_down", "put")])
def test_verb_lookup(word, key):
    assert o.verb_key(word) == key


def test_noun_ids():
    assert o.noun_id("carrot") == next(c.id for c in o.nouns() if c.key == "carrot")


def test_epic55_to_100():
    by_key = {c.key: c.id for c in o.epic55_nouns()}
    assert o.epic55_to_100(by_key["pan"]) == "pan"
    assert o.epic55_to_100(by_key["tap"]) == "tap"
    assert o.epic55_to_100(0) is None  # "Nothing"
    mapped = sum(o.epic55_to_100(c.id) is not None for c in o.epic55_nouns())
    assert mapped >= 340


def test_subactions():
    assert o.SUBACTIONS.index("goto") == 6 and len(o.SUBACTIONS) == 8
    assert o.subaction("pick_up") == "grasp" and o.subaction("walk to") == "goto"
    assert o.subaction("put_down") == "release" and o.subaction("grasp") == "grasp"
    assert o.subaction("dance") is None


@pytest.mark.parametrize("word, key", [("cutting", "cut"), ("stirring", "mix"), ("wiping", "wash"),
                                        ("rinsing", "wash")])  # EPIC-100 puts stir under mix, wipe and rinse under wash
def test_verb_ing_forms(word, key):
    assert o.verb_key(word) == key


@pytest.mark.parametrize("word", ["cutter", "stirrer", "filler", "add-onion", "spaceship"])
def test_unknown_verbs_are_none_not_guessed(word):
    # Cutting three letters off any word made tools (cutter) and onions into verbs.
    assert o.verb_key(word) is None
