"""Citations (rag/cite.py): quotes are verbatim passage text that really contains the answer."""
from rag.cite import answer_candidates, coverage, quote_for, standalone
from rag.language.english import ENGLISH
from rag.segment import Quote


def sentences(text):
    return ENGLISH.segments(text)


def texts(text):
    return [q.text for q in sentences(text)]


def test_sentences_split_ordinary_prose_with_exact_offsets():
    text = "The fee is due monthly. Late payments cost extra! Is there a grace period? Yes, ten days."
    out = sentences(text)
    assert [q.text for q in out] == ["The fee is due monthly.", "Late payments cost extra!",
                                     "Is there a grace period?", "Yes, ten days."]
    for q in out:
        assert text[q.start:q.end] == q.text


def test_abbreviation_eg_does_not_split():
    assert texts("Bring documents, e.g. Passports and visas. Then wait.") == [
        "Bring documents, e.g. Passports and visas.", "Then wait."]


def test_numbered_list_item_stays_whole():
    out = texts("Steps:\n1. First step is to log in.\n2. Second step is to pay.")
    assert "1. First step is to log in." in out
    assert "2. Second step is to pay." in out


def test_a_title_line_is_not_glued_to_the_first_sentence_but_a_wrapped_line_stays_whole():
    # As pypdf gives a page: body lines wrap near the page width, the title is clearly shorter.
    page = ("Halvorsen Maritime Insurance - IT Security Policy\n"
            "Document owner: Chief Information Security Officer (CISO), Henrik Lunde. Version 4.0, effective\n"
            "1 February 2026. Classification: Internal. This policy sets out the minimum security requirements\n"
            "for all information systems, devices and data of Halvorsen Maritime Insurance (HMI). It applies to\n"
            "all employees.")
    assert texts(page)[:2] == ["Halvorsen Maritime Insurance - IT Security Policy",
                               "Document owner: Chief Information Security Officer (CISO), Henrik Lunde."]
    assert "Version 4.0, effective\n1 February 2026." in texts(page)
    # In a narrow column every line is about as long: a line that wraps before a name is no heading there.
    column = ("The canteen on the second floor serves a lunch made by\n"
              "Nordlys Kitchen from noon until 2 pm on every weekday,\n"
              "and on Saturdays it serves breakfast from 8 to 10 am.")
    assert texts(column) == [column]


def test_quote_found_across_line_break_is_verbatim():
    passage = ("The contract starts in May. Notice must be given\nwithin 28 days of the invoice. "
               "Other terms apply.")
    q = quote_for("given within 28 days", passage, ENGLISH)
    assert q is not None
    assert q.text == "Notice must be given\nwithin 28 days of the invoice."
    assert passage[q.start:q.end] == q.text


def test_quote_spanning_two_sentences_includes_both():
    passage = "Alpha is first. Beta is second. Gamma is third."
    q = quote_for("first. Beta", passage, ENGLISH)
    assert q.text == "Alpha is first. Beta is second."


def test_quote_is_the_sentence_the_answer_was_read_from():
    # The same figure in two sentences: the citation must be the one the answer came from, or it
    # quotes a sentence about something else.
    passage = ("Team leads may approve refunds of up to £20. "
               "Agents may approve goodwill credits of up to £20 without sign-off.")
    evidence = sentences(passage)[1]
    assert quote_for("£20", passage, ENGLISH, evidence).text == evidence.text
    assert quote_for("£20", passage, ENGLISH).text == sentences(passage)[0].text


def test_quote_matches_whole_words():
    passage = "Expenses FAQ, Finance Office.\nQ: How soon must I submit a claim? A: Within 30 days."
    assert quote_for("Q", passage, ENGLISH).text == "Q: How soon must I submit a claim?"


def test_quote_none_when_answer_absent():
    passage = "Notice must be given within 28 days of the invoice."
    assert quote_for("27 days", passage, ENGLISH) is None
    assert quote_for("", passage, ENGLISH) is None
    assert quote_for("   ", passage, ENGLISH) is None


def test_coverage():
    assert coverage("What is the notice period?", "The notice period is 28 days.", ENGLISH) == 1.0
    assert coverage("What is the notice period?", "Bananas are yellow.", ENGLISH) == 0.0
    assert coverage("notice period for parking", "The notice period is 28 days.", ENGLISH) == 2 / 3
    assert coverage("what is it?", "anything", ENGLISH) == 0.0  # only stopwords: nothing to cover


def test_weighted_coverage_counts_a_rare_word_for_more_than_a_common_one():
    rarity = {"compliance": 3.0, "officer": 1.0}.get
    question = "Who is the Compliance Officer?"
    ciso = "Document owner: Chief Information Security Officer (CISO), Henrik Lunde."
    gifts = "Gifts must be declared to the Compliance Officer, Mats Engebretsen, within 5 working days."
    assert coverage(question, ciso, ENGLISH, weight=rarity) == 0.25 and coverage(question, gifts, ENGLISH, weight=rarity) == 1.0
    assert coverage(question, ciso, ENGLISH) == 0.5


def test_answer_candidates_say_something_new_and_stay_verbatim():
    sentence = "Employees receive 27 days of paid annual leave per calendar year."
    found = answer_candidates(sentence, "How many days of paid annual leave do employees get?", ENGLISH)
    assert "27 days" in found and "27" in found
    assert "paid annual leave" not in found  # nothing the question does not already say
    assert not any(c.split()[-1] in ("of", "per") for c in found)  # no dangling function words
    assert all(c in sentence for c in found)


def test_a_list_items_number_is_no_answer():
    item = "3. Business class requires approval from the Chief Operating Officer."
    found = answer_candidates(item, "Which staff grade is required to fly business class?", ENGLISH)
    assert "the Chief Operating Officer" in found
    assert not any(c.startswith("3") for c in found)
    # a number inside the sentence still is one
    assert "2" in answer_candidates("1. Each team has 2 first-aiders.", "How many first-aiders has a team?", ENGLISH)


def test_no_answer_parts_a_number_from_its_magnitude():
    """"4.2" alone would tell a user another amount than the "4.2 million euros" the minutes approved."""
    found = answer_candidates("The board approved a budget of 4.2 million euros and a ratio of 94.1 %.",
                              "How much did the board approve?", ENGLISH)
    assert "4.2 million euros" in found and "4.2 million" in found and "94.1 %" in found
    assert not {"4.2", "million euros", "94.1", "a budget of 4.2"} & set(found)


def test_a_span_that_only_spells_out_an_acronym_of_the_question_is_no_candidate():
    sentence = "Halvorsen Maritime Insurance today insures more than 3,100 vessels."
    candidates = answer_candidates(sentence, "What does HMI insure?", ENGLISH)
    assert not {"Halvorsen", "Halvorsen Maritime", "Halvorsen Maritime Insurance", "Maritime Insurance"} & set(candidates)
    assert "3,100 vessels" in candidates


def test_a_short_quote_comes_with_the_sentence_that_introduces_it():
    passage = "To install the package into another library, use the option below.\nR CMD INSTALL -l /opt/lib pkg"
    code = sentences(passage)[-1]
    assert code.text == "R CMD INSTALL -l /opt/lib pkg"
    quote = standalone(code, passage, ENGLISH)
    assert quote.text == passage and passage[quote.start:quote.end] == quote.text
    # the sentence that leads into the code brings it along
    running = "Help is available in HTML format by running\n> help.start()\nwhich will launch a Web browser."
    lead = sentences(running)[0]
    assert lead.text == "Help is available in HTML format by running"
    assert standalone(lead, running, ENGLISH).text == "Help is available in HTML format by running\n> help.start()"
    prose = sentences(passage)[0]
    assert standalone(prose, passage, ENGLISH) == prose  # a whole sentence stands alone
    assert standalone(Quote("Yes.", 0, 4), "Yes.", ENGLISH).text == "Yes."  # nothing before it


def test_a_number_grouped_by_spaces_is_never_cut_apart():
    from rag.language.french import FRENCH

    sentence = "Le budget de formation est fixé à 58 000 € pour 1 607 heures de travail annuel."
    candidates = answer_candidates(sentence, "Quel est le budget de formation ?", FRENCH)
    assert "58 000 €" in candidates and "1 607 heures" in candidates
    assert "58" not in candidates and "000 €" not in candidates and "607 heures" not in candidates
