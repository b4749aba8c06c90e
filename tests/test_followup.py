"""The follow-up interpreter without an LLM, in every supported language."""

from __future__ import annotations

import pytest

from polyrank.agent._followup import (
    FollowUp,
    fold,
    followup_languages,
    interpret,
    looks_like_follow_up,
)

#: As natives type them: with and without accents, ranks in digits and in words.
CASES: dict[str, list[tuple[str, dict[str, object]]]] = {
    "en": [
        ("more like 2", {"more_like": 2}),
        ("something like the third one", {"more_like": 3}),
        ("similar to #4 please", {"more_like": 4}),
        ("exclude 3", {"exclude_ranks": [3]}),
        ("not the 2nd", {"exclude_ranks": [2]}),
        ("not this one", {"exclude_ranks": [1]}),
        ("cheaper please", {"cheaper": True}),
        ("too expensive", {"cheaper": True}),
        ("something else", {"something_else": True}),
        ("none of these", {"something_else": True}),
        ("not in Spanish", {"exclude_languages": ["es"]}),
        ("only in German", {"only_languages": ["de"]}),
        ("only films", {"only_domains": ["films"]}),
        ("books only", {"only_domains": ["books"]}),
    ],
    "es": [
        ("más como el 2", {"more_like": 2}),
        ("mas parecidos al tercero", {"more_like": 3}),
        ("quita el 3", {"exclude_ranks": [3]}),
        ("sin el segundo", {"exclude_ranks": [2]}),
        ("este no", {"exclude_ranks": [1]}),
        ("más baratos", {"cheaper": True}),
        ("mas economico", {"cheaper": True}),
        ("otra cosa", {"something_else": True}),
        ("que no estén en inglés", {"exclude_languages": ["en"]}),
        ("que no esten en ingles", {"exclude_languages": ["en"]}),
        ("solo en español", {"only_languages": ["es"]}),
        ("solo películas", {"only_domains": ["films"]}),
        ("solo pelis", {"only_domains": ["films"]}),
    ],
    "de": [
        ("mehr wie 2", {"more_like": 2}),
        ("mehr wie die dritte", {"more_like": 3}),
        ("ähnlich wie Nr. 4", {"more_like": 4}),
        ("ohne Nr. 3", {"exclude_ranks": [3]}),
        ("die zweite bitte weg", {"exclude_ranks": [2]}),
        ("günstiger bitte", {"cheaper": True}),
        ("guenstiger", {"cheaper": True}),
        ("zu teuer", {"cheaper": True}),
        ("etwas anderes", {"something_else": True}),
        ("nicht auf Englisch", {"exclude_languages": ["en"]}),
        ("keine englischen", {"exclude_languages": ["en"]}),
        ("nur auf Deutsch", {"only_languages": ["de"]}),
        ("nur Filme", {"only_domains": ["films"]}),
        ("nur noch Bücher", {"only_domains": ["books"]}),
    ],
    "fr": [
        ("plus comme le 2", {"more_like": 2}),
        ("dans le genre du troisième", {"more_like": 3}),
        ("d'autres comme le 4e", {"more_like": 4}),
        ("enlève le 3", {"exclude_ranks": [3]}),
        ("sans le deuxieme", {"exclude_ranks": [2]}),
        ("pas celui-là", {"exclude_ranks": [1]}),
        ("moins cher", {"cheaper": True}),
        ("trop cher", {"cheaper": True}),
        ("autre chose", {"something_else": True}),
        ("pas en anglais", {"exclude_languages": ["en"]}),
        ("seulement en français", {"only_languages": ["fr"]}),
        ("qu'en francais", {"only_languages": ["fr"]}),
        ("seulement des films", {"only_domains": ["films"]}),
    ],
    "it": [
        ("più economico", {"cheaper": True}),
        ("piu economici", {"cheaper": True}),
        ("costa meno", {"cheaper": True}),
        ("troppo cari", {"cheaper": True}),
        ("più come il terzo", {"more_like": 3}),
        ("qualcosa di simile al 2", {"more_like": 2}),
        ("simili al secondo", {"more_like": 2}),
        ("togli il terzo", {"exclude_ranks": [3]}),
        ("senza il 4", {"exclude_ranks": [4]}),
        ("questo no", {"exclude_ranks": [1]}),
        ("qualcos'altro", {"something_else": True}),
        ("altre proposte", {"something_else": True}),
        ("non in inglese", {"exclude_languages": ["en"]}),
        ("solo in italiano", {"only_languages": ["it"]}),
        ("solo libri", {"only_domains": ["books"]}),
    ],
    "pt": [
        ("mais como o 2", {"more_like": 2}),
        ("parecidos com o terceiro", {"more_like": 3}),
        ("tira o 3", {"exclude_ranks": [3]}),
        ("sem o segundo", {"exclude_ranks": [2]}),
        ("esse não", {"exclude_ranks": [1]}),
        ("mais barato", {"cheaper": True}),
        ("mais em conta", {"cheaper": True}),
        ("caro demais", {"cheaper": True}),
        ("outra coisa", {"something_else": True}),
        ("nao em ingles", {"exclude_languages": ["en"]}),
        ("só em português", {"only_languages": ["pt"]}),
        ("so filmes", {"only_domains": ["films"]}),
    ],
    "ja": [
        ("2番みたいなの", {"more_like": 2}),
        ("3番目に似たもの", {"more_like": 3}),
        ("三番目みたいな", {"more_like": 3}),
        ("３番目っぽいやつ", {"more_like": 3}),  # full-width digit
        ("3番はいらない", {"exclude_ranks": [3]}),
        ("二つ目を外して", {"exclude_ranks": [2]}),
        ("これじゃない", {"exclude_ranks": [1]}),
        ("もっと安いの", {"cheaper": True}),
        ("高すぎる", {"cheaper": True}),
        ("別のものを", {"something_else": True}),
        ("英語以外で", {"exclude_languages": ["en"]}),
        ("日本語だけ", {"only_languages": ["ja"]}),
        ("映画だけ", {"only_domains": ["films"]}),
    ],
    "zh": [
        ("像第2个", {"more_like": 2}),
        ("第三个那样的", {"more_like": 3}),
        ("和第三個差不多的", {"more_like": 3}),  # traditional characters
        ("类似3号的", {"more_like": 3}),
        ("去掉第3个", {"exclude_ranks": [3]}),
        ("不要第二个", {"exclude_ranks": [2]}),
        ("这个不要", {"exclude_ranks": [1]}),
        ("便宜一点", {"cheaper": True}),
        ("太贵了", {"cheaper": True}),
        ("换一批", {"something_else": True}),
        ("別的", {"something_else": True}),
        ("不要英文的", {"exclude_languages": ["en"]}),
        ("只要中文", {"only_languages": ["zh"]}),
        ("只要电影", {"only_domains": ["films"]}),
        ("只看書", {"only_domains": ["books"]}),
    ],
    "ko": [
        ("2번이랑 비슷한 거", {"more_like": 2}),
        ("세 번째랑 비슷한 거", {"more_like": 3}),
        ("첫번째 거랑 비슷한", {"more_like": 1}),
        ("3번 빼줘", {"exclude_ranks": [3]}),
        ("두 번째는 빼", {"exclude_ranks": [2]}),
        ("이거 말고", {"exclude_ranks": [1]}),
        ("더 싼 거", {"cheaper": True}),
        ("너무 비싸요", {"cheaper": True}),
        ("다른 거 보여줘", {"something_else": True}),
        ("영어 말고", {"exclude_languages": ["en"]}),
        ("한국어로만", {"only_languages": ["ko"]}),
        ("영화만", {"only_domains": ["films"]}),
    ],
    "ru": [
        ("ещё похожие на 2", {"more_like": 2}),
        ("что-нибудь вроде третьего", {"more_like": 3}),
        ("похожее на третье", {"more_like": 3}),
        ("убери 3", {"exclude_ranks": [3]}),
        ("без второго", {"exclude_ranks": [2]}),
        ("не этот", {"exclude_ranks": [1]}),
        ("подешевле", {"cheaper": True}),
        ("дешевле", {"cheaper": True}),
        ("слишком дорого", {"cheaper": True}),
        ("что-то другое", {"something_else": True}),
        ("что то еще", {"something_else": True}),  # without the hyphen and ё
        ("не на английском", {"exclude_languages": ["en"]}),
        ("только на русском", {"only_languages": ["ru"]}),
        ("только по-русски", {"only_languages": ["ru"]}),
        ("только фильмы", {"only_domains": ["films"]}),
    ],
    "ar": [
        ("مثل رقم 2", {"more_like": 2}),
        ("زي الثالث", {"more_like": 3}),
        ("مشابه للثالث", {"more_like": 3}),
        ("احذف رقم ٣", {"exclude_ranks": [3]}),  # Arabic-Indic digit
        ("بدون الثاني", {"exclude_ranks": [2]}),
        ("مش هذا", {"exclude_ranks": [1]}),
        ("أرخص", {"cheaper": True}),
        ("ارخص شوي", {"cheaper": True}),
        ("غالي جدا", {"cheaper": True}),
        ("شيء آخر", {"something_else": True}),
        ("شي تاني", {"something_else": True}),
        ("مش بالإنجليزي", {"exclude_languages": ["en"]}),
        ("بالعربي فقط", {"only_languages": ["ar"]}),
        ("أفلام فقط", {"only_domains": ["films"]}),
    ],
    "hi": [
        ("2 नंबर जैसा", {"more_like": 2}),
        ("तीसरे जैसा और", {"more_like": 3}),
        ("teesre jaisa", {"more_like": 3}),
        ("3 नंबर हटाओ", {"exclude_ranks": [3]}),
        ("दूसरा वाला नहीं चाहिए", {"exclude_ranks": [2]}),
        ("ये नहीं", {"exclude_ranks": [1]}),
        ("सस्ता दिखाओ", {"cheaper": True}),
        ("थोड़ा सस्ता", {"cheaper": True}),  # with the nukta
        ("aur sasta", {"cheaper": True}),
        ("कुछ और", {"something_else": True}),
        ("kuch aur dikhao", {"something_else": True}),
        ("अंग्रेज़ी नहीं", {"exclude_languages": ["en"]}),
        ("सिर्फ हिंदी में", {"only_languages": ["hi"]}),
        ("सिर्फ़ फ़िल्में", {"only_domains": ["films"]}),
    ],
    "tr": [
        ("3 gibi", {"more_like": 3}),
        ("üçüncüye benzer", {"more_like": 3}),
        ("ikinciye benzer şeyler", {"more_like": 2}),
        ("3'ü çıkar", {"exclude_ranks": [3]}),
        ("ikinci olmasın", {"exclude_ranks": [2]}),
        ("bu değil", {"exclude_ranks": [1]}),
        ("daha ucuz", {"cheaper": True}),
        ("cok pahali", {"cheaper": True}),
        ("başka bir şey", {"something_else": True}),
        ("baska seyler", {"something_else": True}),
        ("İngilizce olmasın", {"exclude_languages": ["en"]}),
        ("sadece Türkçe", {"only_languages": ["tr"]}),
        ("sadece filmler", {"only_domains": ["films"]}),
    ],
    "nl": [
        ("meer zoals 2", {"more_like": 2}),
        ("iets zoals de derde", {"more_like": 3}),
        ("vergelijkbaar met nummer 4", {"more_like": 4}),
        ("zonder 3", {"exclude_ranks": [3]}),
        ("haal de tweede weg", {"exclude_ranks": [2]}),
        ("deze niet", {"exclude_ranks": [1]}),
        ("goedkoper", {"cheaper": True}),
        ("te duur", {"cheaper": True}),
        ("iets anders", {"something_else": True}),
        ("niet in het Engels", {"exclude_languages": ["en"]}),
        ("geen Engelse", {"exclude_languages": ["en"]}),
        ("alleen Nederlands", {"only_languages": ["nl"]}),
        ("alleen films", {"only_domains": ["films"]}),
        ("alleen maar boeken", {"only_domains": ["books"]}),
    ],
    "pl": [
        ("więcej takich jak 2", {"more_like": 2}),
        ("cos podobnego do trzeciego", {"more_like": 3}),
        ("podobne do nr 4", {"more_like": 4}),
        ("usuń 3", {"exclude_ranks": [3]}),
        ("bez drugiego", {"exclude_ranks": [2]}),
        ("wywal trzecią", {"exclude_ranks": [3]}),
        ("nie ten", {"exclude_ranks": [1]}),
        ("tańsze", {"cheaper": True}),
        ("tansze prosze", {"cheaper": True}),
        ("za drogie", {"cheaper": True}),
        ("coś innego", {"something_else": True}),
        ("pokaz inne propozycje", {"something_else": True}),
        ("nie po angielsku", {"exclude_languages": ["en"]}),
        ("tylko po polsku", {"only_languages": ["pl"]}),
        ("tylko wloskie filmy", {"only_languages": ["it"], "only_domains": ["films"]}),
        ("tylko filmy", {"only_domains": ["films"]}),
        ("wyłącznie książki", {"only_domains": ["books"]}),
    ],
    "sv": [
        ("mer som 2", {"more_like": 2}),
        ("något liknande den tredje", {"more_like": 3}),
        ("fler som nummer 4", {"more_like": 4}),
        ("ta bort 3", {"exclude_ranks": [3]}),
        ("utan den 2:a", {"exclude_ranks": [2]}),
        ("inte den här", {"exclude_ranks": [1]}),
        ("billigare tack", {"cheaper": True}),
        ("för dyrt", {"cheaper": True}),
        ("nåt annat", {"something_else": True}),
        ("nagot annat", {"something_else": True}),
        ("inte på engelska", {"exclude_languages": ["en"]}),
        ("bara pa svenska", {"only_languages": ["sv"]}),
        ("bara filmer", {"only_domains": ["films"]}),
        ("endast böcker", {"only_domains": ["books"]}),
    ],
    "vi": [
        ("giống số 2", {"more_like": 2}),
        ("cái nào giống cái thứ ba", {"more_like": 3}),
        ("tuong tu so 4", {"more_like": 4}),
        ("bỏ số 3", {"exclude_ranks": [3]}),
        ("bo cai thu hai di", {"exclude_ranks": [2]}),
        ("không phải cái này", {"exclude_ranks": [1]}),
        ("rẻ hơn", {"cheaper": True}),
        ("re hon chut", {"cheaper": True}),
        ("dat qua", {"cheaper": True}),
        ("cái khác", {"something_else": True}),
        ("goi y khac di", {"something_else": True}),
        ("không phải tiếng Anh", {"exclude_languages": ["en"]}),
        ("chỉ tiếng Việt thôi", {"only_languages": ["vi"]}),
        ("chi phim tieng Han", {"only_languages": ["ko"], "only_domains": ["films"]}),
        ("chỉ phim", {"only_domains": ["films"]}),
        ("sach thoi", {"only_domains": ["books"]}),
    ],
    "id": [
        ("yang mirip nomor 2", {"more_like": 2}),
        ("kayak yang ketiga dong", {"more_like": 3}),
        ("seperti yg ke-4", {"more_like": 4}),
        ("hapus nomor 3", {"exclude_ranks": [3]}),
        ("buang yang kedua", {"exclude_ranks": [2]}),
        ("bukan yang ini", {"exclude_ranks": [1]}),
        ("lebih murah", {"cheaper": True}),
        ("mahal banget", {"cheaper": True}),
        ("yang lain dong", {"something_else": True}),
        ("rekomendasi lain", {"something_else": True}),
        ("bukan bahasa Inggris", {"exclude_languages": ["en"]}),
        ("bahasa Indonesia aja", {"only_languages": ["id"]}),
        ("cuma film Korea", {"only_languages": ["ko"], "only_domains": ["films"]}),
        ("cuma film", {"only_domains": ["films"]}),
        ("hanya buku", {"only_domains": ["books"]}),
    ],
    "th": [
        ("เหมือนอันที่ 2", {"more_like": 2}),
        ("ขอแบบเรื่องที่สามอีกครับ", {"more_like": 3}),
        ("คล้ายๆ เล่มที่ 4", {"more_like": 4}),
        ("ไม่เอาอันที่ 3", {"exclude_ranks": [3]}),
        ("ตัดเรื่องที่สองออก", {"exclude_ranks": [2]}),
        ("ไม่เอาอันนี้", {"exclude_ranks": [1]}),
        ("ถูกกว่านี้หน่อย", {"cheaper": True}),
        ("แพงไปค่ะ", {"cheaper": True}),
        ("อย่างอื่น", {"something_else": True}),
        ("ขออันอื่นหน่อยครับ", {"something_else": True}),
        ("ไม่เอาภาษาอังกฤษ", {"exclude_languages": ["en"]}),
        ("แค่ภาษาไทย", {"only_languages": ["th"]}),
        ("เฉพาะหนัง", {"only_domains": ["films"]}),
        ("หนังสืออย่างเดียว", {"only_domains": ["books"]}),
    ],
    "el": [
        ("παρόμοια με το 2", {"more_like": 2}),
        ("κάτι σαν το τρίτο", {"more_like": 3}),
        ("σαν το 4ο", {"more_like": 4}),
        ("βγάλε το 3", {"exclude_ranks": [3]}),
        ("χωρις το δευτερο", {"exclude_ranks": [2]}),
        ("όχι αυτό", {"exclude_ranks": [1]}),
        ("φθηνότερα", {"cheaper": True}),
        ("πιο φτηνα", {"cheaper": True}),
        ("κάτι άλλο", {"something_else": True}),
        ("κατι αλλο", {"something_else": True}),
        ("όχι στα αγγλικά", {"exclude_languages": ["en"]}),
        ("μόνο στα ελληνικά", {"only_languages": ["el"]}),
        ("ΜΟΝΟ ΤΑΙΝΙΕΣ", {"only_domains": ["films"]}),
        ("μονο βιβλια", {"only_domains": ["books"]}),
    ],
}

REQUIRED = {"en", "es", "fr", "de", "it", "pt", "ja", "zh", "ko", "ru", "ar", "hi", "tr", "nl"}
REQUIRED |= {"pl", "sv", "vi", "id", "th", "el"}  # the languages of requests and reasons


def test_every_language_is_covered() -> None:
    assert set(CASES) == set(followup_languages())
    assert set(followup_languages()) >= REQUIRED


@pytest.mark.parametrize("language", sorted(CASES))
def test_every_kind_is_understood_in_every_language(language: str) -> None:
    """Each language says each of the seven things in at least one case above."""
    said = {key for _, expected in CASES[language] for key in expected}
    assert said == {
        "more_like", "exclude_ranks", "cheaper", "something_else", "exclude_languages",
        "only_languages", "only_domains",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [(lang, text, expected) for lang, cases in CASES.items() for text, expected in cases],
)
def test_follow_up_phrases(language: str, text: str, expected: dict[str, object]) -> None:
    found = interpret(text, language)
    assert found.kind == "refine"
    assert found.model_dump(exclude_defaults=True) == expected


@pytest.mark.parametrize("language", sorted(CASES))
def test_follow_ups_are_understood_whatever_the_session_language(language: str) -> None:
    other = "ja" if language != "ja" else "en"
    for text, expected in CASES[language]:
        assert interpret(text, other).model_dump(exclude_defaults=True) == expected, text


#: Real requests, some with the words follow-ups use ("without", "only", "other", a number):
#: each must still run as a new request, and must not be taken for an unread follow-up.
NEW_REQUESTS = [
    "Quiero aprender a programar",
    "東京で食べたいラーメン",
    "a film without violence",
    "ein spannender Krimi",
    "送给喜欢徒步的朋友的礼物",
    "送给妈妈的特别的礼物",
    "un film romantique à Paris",
    "un libro giallo ambientato a Venezia",
    "um livro para aprender a cozinhar",
    "фильм про космос для всей семьи",
    "كتاب عن تاريخ الأندلس",
    "बच्चों के लिए एक अच्छी किताब",
    "kamp için iyi bir çadır",
    "een spannend boek voor op vakantie",
    "영화 추천해 주세요",
    "top 5 films",
    "5 films",
    "1984",
    "Seven",
    "Rocky 2",
    "No 1 hits",
    "ramen no 1",
    "First Man",
    "Another Round",
    "books under 20 euros",
    "3000円以下のプレゼント",
    "un regalo para un niño de 8 años",
    "ein Film, der nicht zu lang ist",
    "een film die niet eng is",
    "a book like Harry Potter",
    "cheap headphones",
    "un film pas trop long",
    "tania książka o górach",  # "cheap", not "cheaper"
    "film bez przemocy dla dzieci",
    "billiga hörlurar för löpning",
    "en bok som utspelar sig i Stockholm",
    "sách nấu ăn giá rẻ cho sinh viên",
    "phim hài cho cả gia đình",
    "buku murah tentang sejarah Jawa",
    "film horor yang seru untuk ditonton bareng teman",
    "หนังสือราคาถูกสำหรับเด็ก",
    "หนังแบบสามก๊ก",  # "like Three Kingdoms": สาม is no rank here
    "หนังเหมือนที่สามีชอบดู",  # "like what my husband watches": ที่สาม + ี is no "#3"
    "φθηνό βιβλίο μαγειρικής",
    "μια ταινία για όλη την οικογένεια",
    "nie za drogi ekspres do kawy",  # "not too expensive": a ceiling, not "cheaper"
    "en present som inte är för dyr",
    "sepatu lari yang tidak terlalu mahal",
    "หนังสือดีๆ ที่ไม่แพงเกินไป",
]


@pytest.mark.parametrize("text", NEW_REQUESTS)
def test_new_requests_are_not_follow_ups(text: str) -> None:
    assert interpret(text, "en") == FollowUp(kind="new", query=text)
    assert not looks_like_follow_up(text, shown=5)


@pytest.mark.parametrize(
    "text",
    [
        "#2",
        "2",
        "ne 2",  # Czech: no table
        "ikke 2?",  # Danish
        "No. 3",
        "the third",
        "il terzo",
        "3番目",
        "第三个",
        "세 번째",
        "more expensive",
        "pricier?",
        "più caro",
        "дороже",
        "levnější",  # Czech "cheaper"
        "billigere tak",  # Danish
        "něco jiného",  # Czech "something else"
        "olcsóbbat",  # Hungarian
        "rahisi zaidi",  # Swahili
        "droższe",  # Polish "more expensive": its table does not make that change
        "đắt hơn",  # Vietnamese, the same
        "others",
    ],
)
def test_unread_follow_ups_are_recognised_as_such(text: str) -> None:
    assert interpret(text, "en").kind == "new"  # no table reads them ...
    assert looks_like_follow_up(text, shown=5)  # ... yet they refer to the last answer


def test_a_bare_rank_counts_only_up_to_what_was_shown() -> None:
    assert looks_like_follow_up("4", shown=5) and not looks_like_follow_up("seven", shown=5)
    assert looks_like_follow_up("seven", shown=10)


def test_several_changes_in_one_message() -> None:
    found = interpret("cheaper and not in Spanish, only books", "en")
    assert found.cheaper and found.exclude_languages == ["es"] and found.only_domains == ["books"]
    found = interpret("più economici, non in inglese e senza il secondo", "it")
    assert found.model_dump(exclude_defaults=True) == {
        "cheaper": True, "exclude_languages": ["en"], "exclude_ranks": [2],
    }  # fmt: skip
    found = interpret("tańsze i nie po angielsku, tylko książki", "pl")
    assert found.model_dump(exclude_defaults=True) == {
        "cheaper": True, "exclude_languages": ["en"], "only_domains": ["books"],
    }  # fmt: skip
    found = interpret("rẻ hơn, không phải tiếng Anh, bỏ số 2", "vi")
    assert found.model_dump(exclude_defaults=True) == {
        "cheaper": True, "exclude_languages": ["en"], "exclude_ranks": [2],
    }  # fmt: skip


def test_folding_drops_accents_but_keeps_what_changes_a_word() -> None:
    assert fold("più économique günstiger ещё أرخص") == "piu economique gunstiger еще ارخص"
    assert fold("３番目") == "3番目"  # full-width digits are digits
    assert fold("ダメ") == "ダメ" and fold("세 번째") == "세 번째"  # kana and Hangul kept
    assert fold("yalnızca İngilizce") == "yalnizca Ingilizce"
    assert fold("tańsze włoskie đắt quá Đức") == "tansze wloskie dat qua Duc"  # ł, đ: no mark
    assert fold("φθηνότερα ΌΧΙ ΑΥΤΌ") == "φθηνοτερα ΟΧΙ ΑΥΤΟ"  # Greek accents dropped
    assert fold("ไม่เอาอันที่สอง") == "ไม่เอาอันที่สอง"  # Thai vowel and tone marks kept


def test_every_language_with_follow_ups_says_what_changed_in_it() -> None:
    """Was: pl sv vi id th el read follow-ups but said what changed in English."""
    from polyrank.agent._followup import followup_languages
    from polyrank.agent._locale import table

    assert set(followup_languages()) <= set(table("notes"))


@pytest.mark.parametrize("language", sorted(CASES))
def test_the_examples_a_not_understood_note_suggests_are_understood(language: str) -> None:
    """Each suggestion after "not understood as a follow-up" works when typed as shown."""
    import re

    from polyrank.agent._followup import notes

    text = notes(language)["not_understood"]
    quoted = re.findall(r"[“”«„「‘]([^“”«»„「」‘’]+)[”»“」’]", text.replace("{text}", "X"))
    examples = [e.strip() for e in quoted if e.strip() != "X"]
    assert len(examples) >= 4, examples
    for example in examples:
        assert interpret(example, language).kind == "refine", example
        assert interpret(example, language).describe(language) != notes(language)["new"], example
