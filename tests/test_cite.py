"""Citations (rag/cite.py): quotes are verbatim passage text that really contains the answer."""
from rag.cite import (
    answer_candidates,
    asked_kind,
    coverage,
    fits_kind,
    is_heading,
    mismatch,
    names_what_is_counted,
    quote_for,
    sentences,
    supports,
)


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
    q = quote_for("given within 28 days", passage)
    assert q is not None
    assert q.text == "Notice must be given\nwithin 28 days of the invoice."
    assert passage[q.start:q.end] == q.text


def test_quote_spanning_two_sentences_includes_both():
    passage = "Alpha is first. Beta is second. Gamma is third."
    q = quote_for("first. Beta", passage)
    assert q.text == "Alpha is first. Beta is second."


def test_quote_is_the_sentence_the_answer_was_read_from():
    # The same figure in two sentences: the citation must be the one the answer came from, or it
    # quotes a sentence about something else.
    passage = ("Team leads may approve refunds of up to £20. "
               "Agents may approve goodwill credits of up to £20 without sign-off.")
    evidence = sentences(passage)[1]
    assert quote_for("£20", passage, evidence).text == evidence.text
    assert quote_for("£20", passage).text == sentences(passage)[0].text


def test_quote_matches_whole_words():
    passage = "Expenses FAQ, Finance Office.\nQ: How soon must I submit a claim? A: Within 30 days."
    assert quote_for("Q", passage).text == "Q: How soon must I submit a claim?"


def test_quote_none_when_answer_absent():
    passage = "Notice must be given within 28 days of the invoice."
    assert quote_for("27 days", passage) is None
    assert quote_for("", passage) is None
    assert quote_for("   ", passage) is None


def test_coverage():
    assert coverage("What is the notice period?", "The notice period is 28 days.") == 1.0
    assert coverage("What is the notice period?", "Bananas are yellow.") == 0.0
    assert coverage("notice period for parking", "The notice period is 28 days.") == 2 / 3
    assert coverage("what is it?", "anything") == 0.0  # only stopwords: nothing to cover


def test_weighted_coverage_counts_a_rare_word_for_more_than_a_common_one():
    rarity = {"compliance": 3.0, "officer": 1.0}.get
    question = "Who is the Compliance Officer?"
    ciso = "Document owner: Chief Information Security Officer (CISO), Henrik Lunde."
    gifts = "Gifts must be declared to the Compliance Officer, Mats Engebretsen, within 5 working days."
    assert coverage(question, ciso, rarity) == 0.25 and coverage(question, gifts, rarity) == 1.0
    assert coverage(question, ciso) == 0.5


def test_supports_requires_numbers_and_words_to_match():
    quotes = ["Notice must be given within 28 days of the invoice."]
    assert supports("28 days", quotes)
    assert supports("within 28 Days", quotes)  # case-insensitive
    assert not supports("27 days", ["Notice must be given within 28 days of the invoice."])
    assert not supports("28 weeks", quotes)
    assert not supports("28 days", [])
    assert not supports("the", quotes)  # nothing of substance to support


def test_answer_candidates_say_something_new_and_stay_verbatim():
    sentence = "Employees receive 27 days of paid annual leave per calendar year."
    found = answer_candidates(sentence, "How many days of paid annual leave do employees get?")
    assert "27 days" in found and "27" in found
    assert "paid annual leave" not in found  # nothing the question does not already say
    assert not any(c.split()[-1] in ("of", "per") for c in found)  # no dangling function words
    assert all(c in sentence for c in found)


def test_a_list_items_number_is_no_answer():
    item = "3. Business class requires approval from the Chief Operating Officer."
    found = answer_candidates(item, "Which staff grade is required to fly business class?")
    assert "the Chief Operating Officer" in found
    assert not any(c.startswith("3") for c in found)
    # a number inside the sentence still is one
    assert "2" in answer_candidates("1. Each team has 2 first-aiders.", "How many first-aiders has a team?")


def test_no_answer_parts_a_number_from_its_magnitude():
    """"4.2" alone would tell a user another amount than the "4.2 million euros" the minutes approved."""
    found = answer_candidates("The board approved a budget of 4.2 million euros and a ratio of 94.1 %.",
                              "How much did the board approve?")
    assert "4.2 million euros" in found and "4.2 million" in found and "94.1 %" in found
    assert not {"4.2", "million euros", "94.1", "a budget of 4.2"} & set(found)


LEAVE = ("Employees accrue 27 days of paid annual leave per calendar year. The offices in Bergen, Oslo, Tromsø "
         "and Hamburg close at 15:00 on the day before Christmas Eve.")


def test_mismatch_lets_a_plain_question_through():
    assert mismatch("How many days of paid annual leave do employees get?", LEAVE, [LEAVE]) is None
    assert mismatch("When do the Bergen and Tromso offices close?", LEAVE, [LEAVE]) is None  # ø typed as o


def test_mismatch_names_what_no_passage_mentions():
    reason = mismatch("How many days of paid annual leave do employees get in 2031?", LEAVE, [LEAVE])
    assert reason == "the passages found do not mention '2031'"
    assert "'Stavanger'" in mismatch("When does the Stavanger office close?", LEAVE, ["Other text.", LEAVE])


def test_mismatch_names_a_code_no_passage_mentions():
    ward = "On Ward 7B, nursing handover takes place at 07:30, 14:00 and 20:30."
    assert mismatch("At what time is the evening handover on Ward 7C?", ward, [ward]) == \
        "the passages found do not mention '7C'"
    assert mismatch("At what time is the evening handover on Ward 7B?", ward, [ward]) is None


def test_a_code_with_another_number_is_not_a_misspelling():
    checklist = "Forklift FL-12 daily pre-use checklist and defect record."
    assert mismatch("When was forklift FL-14 last examined?", checklist, [checklist]) == \
        "the passages found do not mention 'FL-14'"


def test_mismatch_refuses_a_sentence_about_a_neighbouring_code_or_month():
    p1 = "Step 3: For a P1, the Incident Commander opens a bridge call within one hour."
    p4 = "Step 4: A P4 is handled by the service desk in normal hours."
    assert mismatch("Who opens the bridge call for a P4 incident?", p1, [p1, p4]) == \
        "the question is about 'P4', the evidence sentence about 'P1'"
    assert mismatch("Who opens the bridge call for a P1 incident?", p1, [p1, p4]) is None
    march = "Two near misses with pallet trucks were reported in March, both by dock 4."
    february = "In February the dock was closed."
    assert mismatch("How many near misses were reported in February?", march, [march, february]) == \
        "the question is about 'February', the evidence sentence about 'March'"
    # "may" the verb names no month
    claims = "Claims may be submitted until the end of the month."
    assert mismatch("Until when can June claims be submitted?", claims, [claims, "Budgets close in June."]) is None


def test_a_count_of_something_else_answers_another_question():
    castles = 'It is known as "the Romantic Rhine", with more than 40 castles and fortresses from the Middle Ages.'
    assert mismatch("How many vineyards are located in the Romantic Rhine?", castles, [castles]) == \
        "the question counts 'vineyards', the evidence sentence does not name them"
    assert mismatch("How many castles are located in the Romantic Rhine?", castles, [castles]) is None
    # a stem or a spelling variant names it too
    route = "Is there a route of at most 2000 kilometres passing through all of Germany's 15 largest cities?"
    assert names_what_is_counted("By how many kilometers does the route go?", route)
    assert names_what_is_counted("How many days of leave are there?", "Staff get 27 days' leave a year.")
    assert names_what_is_counted("Who chaired the meeting?", castles)  # counts nothing


def test_the_asked_kind_comes_from_the_wording_only():
    assert asked_kind("How many days of paid annual leave do employees get?") == "amount"
    assert asked_kind("In what year was the bridge completed?") == "year"
    assert asked_kind("How long does each handover last?") == "measure"
    assert asked_kind("How often are passwords rotated?") == "measure"
    assert asked_kind("When was Operation Market Garden?") == "time"
    # "When" opening a clause of a question that asks something else
    assert asked_kind("When extensive time is required to sort integers, what case is this?") is None
    assert asked_kind("Who approves an extension of probation?") is None
    assert asked_kind("Why is the Saffron Kestrel project late?") == "reason"


def test_a_span_fits_its_kind_only_if_it_names_one():
    for span in ("27 days", "£5,000", "three", "a single output", "2.5%"):
        assert fits_kind(span, "amount"), span
    for span in ("September 1944", "the 10th century", "14:00", "every three years", "the end of World War I"):
        assert fits_kind(span, "time"), span
    assert fits_kind("1932", "year") and not fits_kind("the firm Dorman Long", "year")
    # a code is not an amount: "How long is the warranty on the HS-7?" is not answered by "the HS-BAT7"
    for span in ("the HS-BAT7", "form TA-3", "Ward 7C", "Dorman Long"):
        assert not fits_kind(span, "amount") and not fits_kind(span, "time"), span
    assert fits_kind("anything at all", None)
    # "Why is the project late?" is not answered by how late it is
    assert fits_kind("data migration issues", "reason") and fits_kind("3 months behind schedule", "reason")
    assert not fits_kind("3 months", "reason") and not fits_kind("2026", "reason")


def test_how_long_or_how_often_wants_a_number_with_its_unit():
    for span in ("six months", "1,230 km", "30-minute", "2.5%", "every three years", "twice", "weekly",
                 "five working days"):
        assert fits_kind(span, "measure"), span
    # "4" of "Harwell Logistics Employee Handbook, Section 4: Probation." answered "How long is probation?"
    for span in ("4", "three", "Section 4", "Section 4: Probation", "14:00", "1932 by the firm"):
        assert not fits_kind(span, "measure"), span


def test_headings_are_told_from_lines_that_state_something():
    for line in ("### 4. Saffron Kestrel Project", "6.1 Code of Conduct", "3.2.1 Sick Leave", "COMPLAINTS"):
        assert is_heading(line), line
    # a contact table's row, an address, a title without a number, and sentences stay evidence
    for line in ("Compliance Officer Mats Engebretsen", "10 Downing Street", "Halvorsen Maritime Insurance",
                 "Employees accrue 27 days of paid annual leave per calendar year.", "Annual leave 27 days",
                 "1. All new staff serve a probation period of six months."):
        assert not is_heading(line), line


def test_mismatch_forgives_misspelt_names():
    assert mismatch("When does the Hamburgh office close?", LEAVE, [LEAVE]) is None


def test_mismatch_refuses_evidence_for_the_opposite_question():
    assert mismatch("Which employees do not accrue paid leave?", LEAVE, [LEAVE]) == \
        "the question is negated and the evidence is not"
    assert mismatch("Whether or not employees accrue leave, how many days?", LEAVE, [LEAVE]) is None
    assert mismatch("What is the least used reduction?", "The most commonly used reduction is a "
                    "polynomial-time reduction.", [LEAVE]) == "the question asks 'least', the evidence says 'most'"


def test_mismatch_refuses_evidence_about_the_un_prefixed_opposite():
    files = "Recruitment files for unsuccessful candidates: retain for six months, then delete."
    assert mismatch("How long are files of successful candidates retained?", files, [files]) == \
        "the question asks 'successful', the evidence says 'unsuccessful'"
    leave = "A secondary adopter receives four weeks of paid leave."
    assert mismatch("How many weeks of unpaid leave can a secondary adopter take?", leave, [leave]) == \
        "the question asks 'unpaid', the evidence says 'paid'"
    hotline = "Concerns can be reported through the external hotline run by Veritel."
    assert mismatch("Which company runs the internal hotline?", hotline, [hotline]) == \
        "the question asks 'internal', the evidence says 'external'"
    # "not known" is what "unknown" asks about
    np = "NP contains many problems for which no efficient algorithm is known."
    assert mismatch("Which class is characterised by unknown algorithms?", np, [np]) is None


def test_a_span_that_only_spells_out_an_acronym_of_the_question_is_no_candidate():
    from rag.cite import answer_candidates

    sentence = "Halvorsen Maritime Insurance today insures more than 3,100 vessels."
    candidates = answer_candidates(sentence, "What does HMI insure?")
    assert not {"Halvorsen", "Halvorsen Maritime", "Halvorsen Maritime Insurance", "Maritime Insurance"} & set(candidates)
    assert "3,100 vessels" in candidates
