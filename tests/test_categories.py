"""The paper's category rule (METHODS §2), case by case."""

import pytest

from precompute.contract.categories import PLOTTED, WRITING_SYSTEMS, char_label, display_category, token_category


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("▁a", "LATIN"),  # the paper said S here: it counted the boundary mark
        ("アメリカ", "KATAKANA"),
        ("東京", "CJK"),
        ("2019", "N"),
        ("。", "P"),
        ("▁när", "LATIN"),
        ("когда", "CYRILLIC"),
        ("미국", "HANGUL"),
        ("عندما", "ARABIC"),
        ("▁", "Unknown"),
        ("", "Unknown"),
        ("€", "S"),
        ("a1", "LATIN"),  # a tie goes to the label seen first
        ("1a", "N"),
        ("ab12", "LATIN"),
        ("a12", "N"),  # majority wins over order
        ("日本の", "CJK"),  # 2 CJK, 1 HIRAGANA
        ("\u0301", "M"),  # a lone combining mark
    ],
)
def test_token_category(text: str, expected: str) -> None:
    assert token_category(text) == expected


def test_char_label_uses_first_word_of_the_unicode_name() -> None:
    assert char_label("ж") == "CYRILLIC"
    assert char_label("ς") == "GREEK"
    assert char_label("ก") == "THAI"
    assert char_label(" ") == "Z"


def test_plotted_is_the_papers_13_writing_systems_plus_symbols_and_numbers() -> None:
    assert len(WRITING_SYSTEMS) == 13
    assert PLOTTED[-2:] == ("S", "N")
    assert display_category("ARMENIAN") == "other"
    assert display_category("HANGUL") == "HANGUL"
