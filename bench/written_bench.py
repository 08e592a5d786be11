"""Written answers (rag/written.py): how the supporting quote is chosen, and what written mode does with a test model.

`--quotes` compares measures of support on hand-written paraphrases (QUOTES: a sentence a model might write, in
English and in French, and the sentence of the workplace documents, bench/data/fr_workplace, that supports it). Each
paraphrase is scored against every sentence of its section (the passage) and of the next section (a wrong passage,
as another retrieved passage would be). Figures: accuracy (the best sentence of the right passage is the gold one),
and for the threshold of rule `quote-found`: the share of right passages whose best sentence reaches it, and of
wrong passages whose best sentence reaches it.

`--set NAME` runs written mode over any question set of bench/evaluate.py (rmanuals-design, rmanuals-heldout,
workplace, fr-design, en-fr-design, ...; workplace is report-only: never change a rule because of its items) with a
model served by llama.cpp's server (`--gguf`: default the Qwen2.5-Coder-0.5B-Instruct test model of the dev extra,
see tests/test_written_server.py): share of written sentences kept, which rules dropped the others, how often the
answer fell back to extractive mode, p50/p95 latency and time to first token. `--limit N`: a random sample of N
questions, fixed by seed 0. `--dropped FILE`: every dropped sentence as a JSON line (set, question, sentence, rule
code, reason, the text of the passages it cites), for reading by hand (docs/written-drops-sample.md).

Figures (2 cores):
  --quotes, 44 paraphrases (22 English, 22 French); accuracy = the gold sentence is the best of its passage;
  the threshold is the one that best parts right from wrong passages on these cases:
    | measure                  | accuracy | threshold | right passages over it | wrong passages over it |
    | stem recall              | 0.977    | 0.500     | 1.000                  | 0.023                  |
    | idf stem recall          | 0.977    | 0.428     | 1.000                  | 0.000                  |
    | cosine                   | 0.932    | 0.675     | 0.886                  | 0.045                  |
    | stem recall + 0.5 cosine | 1.000    | 0.821     | 1.000                  | 0.000                  |
    | idf recall + 0.25 cosine | 1.000    | 0.582     | 1.000                  | 0.000                  |
    | idf recall + 0.5 cosine  | 1.000    | 0.742     | 1.000                  | 0.000                  |
    | idf recall + 1.0 cosine  | 1.000    | 1.063     | 1.000                  | 0.000                  |
  Shipped (rag.written): IDF recall + 0.5 cosine, threshold 0.72 (between the right passages' lowest best, 0.742,
  and the wrong passages' highest, 0.697). The cases are the design set of the measure: no held-out figure.

  --set rmanuals-heldout --limit 15 and --set workplace --limit 10 (seed 0), test model, one run each,
  2026-12-07, 2 cores shared (load average 10-14, run at nice 10: latencies are contention, not the model):
    | set (sample)            | written | kept      | dropped by rule           | fallback   | p50 / p95 s  | 1st tok |
    | R manuals, held-out, 15 | 24      | 13 (0.54) | facts 5, quote 4, cites 2 | 9/15, 0.60 | 85.2 / 180.7 | 45.1 s  |
    | workplace, 10           | 13      | 10 (0.77) | facts 3                   | 3/10, 0.30 | 59.6 / 144.4 | 23.6 s  |
  All 14 dropped sentences read by hand: 12 rightly dropped, 2 right sentences lost (written without a marker,
  rule cites-given). Details: docs/benchmarks.md (Written answers) and docs/written-drops-sample.md.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rag.offline  # noqa: F401,E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "bench" / "data" / "fr_workplace"

# (language, document, a sentence a model might write, words of the one document sentence that supports it)
QUOTES = [
    ("en", "01", "Full-time staff get 25 working days of annual leave each calendar year.",
     "A full-time employee is entitled to 25 working days of annual leave per calendar year."),
    ("en", "01", "Untaken leave can be carried over until 30 April of the next year.",
     "Leave not taken by 31 December may be carried over until 30 April"),
    ("en", "01", "Attendance is compulsory from 9:30 am to 11:30 am in the morning.", "from 9:30 am to 11:30 am;"),
    ("en", "01", "The lunch break must last at least 45 minutes.", "The lunch break lasts at least 45 minutes."),
    ("en", "01", "A forgotten badge swipe has to be fixed within 5 working days in Chronos.",
     "A missed badge swipe must be corrected within 5 working days"),
    ("en", "01", "Staff choosing cycle B work 37.5 hours a week and get 15 RTT days.",
     "cycle B: 37.5 hours over five days, giving 15 RTT days per year."),
    ("en", "01", "An employee needs at least one year of continuous service to open a time savings account.",
     "Any employee with at least one year of continuous service may ask"),
    ("en", "01", "The time savings account cannot hold more than 60 days.",
     "The account may not hold more than 60 days in total."),
    ("en", "01", "A parent may take 6 days a year to look after a sick child under 16.", "care of a sick child under 16:"),
    ("en", "01", "An hour of overtime at night gives two hours off.",
     "One hour worked at night, between 10 pm and 7 am, earns two hours off"),
    ("en", "01", "A week of on-call duty is paid €159.20 gross.", "A full week on call is paid €159.20 gross"),
    ("en", "02", "Employees who work full time can telework up to 2 days a week.",
     "A full-time employee may telework up to 2 days a week."),
    ("en", "02", "Nobody teleworks on Tuesdays, so that team meetings can take place.",
     "Tuesday is a day without telework for all staff"),
    ("en", "02", "The telework allowance is €2.70 for each day worked from home.",
     "A flat telework allowance of €2.70 per telework day is paid every quarter"),
    ("en", "02", "Teleworkers must be reachable from 9:30 am to 12 noon and from 2 pm to 4:30 pm.",
     "They can be reached by phone and instant messaging from 9:30 am to 12 noon"),
    ("en", "02", "A home internet connection of at least 8 Mbit/s is required.",
     "The employee has an internet connection at home with a speed of at least 8 Mbit/s."),
    ("en", "04", "Passwords must be at least 12 characters long.",
     "The password of the login account has at least 12 characters"),
    ("en", "04", "Security incidents have to be reported to Allô Support within an hour.",
     "is reported to Allô Support within one hour."),
    ("en", "04", "Do not turn the computer off; unplug the network cable instead.",
     "While waiting for help, staff unplug the network cable or turn off Wi-Fi"),
    ("en", "04", "A lost or stolen agency phone must be reported to the DSI within 24 hours.",
     "The loss or theft of an agency computer, phone or USB key is reported to the DSI within 24 hours"),
    ("en", "04", "Backups of the file servers are kept for 30 days.",
     "File servers are backed up every night and backups are kept for 30 days."),
    ("en", "04", "Nadia Benali is the CISO.", "The Chief Information Security Officer (CISO) is Nadia Benali."),
    ("fr", "01", "Un agent à temps plein bénéficie de 25 jours ouvrés de congés par an.",
     "Un agent à temps plein a droit à 25 jours ouvrés de congés annuels par année civile."),
    ("fr", "01", "Les congés non utilisés peuvent être reportés jusqu'au 30 avril de l'année suivante.",
     "Les congés non pris au 31 décembre peuvent être reportés jusqu'au 30 avril"),
    ("fr", "01", "La pause de midi doit durer au moins 45 minutes.", "La pause méridienne dure au minimum 45 minutes."),
    ("fr", "01", "Un oubli de badge se corrige dans les 5 jours ouvrés via Chronos.",
     "Un oubli de badgeage doit être régularisé dans un délai de 5 jours ouvrés"),
    ("fr", "01", "Le cycle B donne droit à 15 jours de RTT par an.",
     "cycle B : 37 heures 30 sur cinq jours, ouvrant droit à 15 jours de RTT par an."),
    ("fr", "01", "Le compte épargne-temps ne peut pas contenir plus de 60 jours.",
     "Le nombre total de jours inscrits sur le compte ne peut dépasser 60 jours."),
    ("fr", "01", "Il faut un an de services continus pour ouvrir un CET.",
     "Tout agent comptant au moins un an de services continus peut demander l'ouverture"),
    ("fr", "01", "La durée annuelle de travail est de 1 607 heures.",
     "La durée annuelle du travail effectif est fixée à 1 607 heures"),
    ("fr", "01", "Le cycle se choisit au plus tard le 30 novembre.",
     "Le choix du cycle est fait une fois par an, au plus tard le 30 novembre"),
    ("fr", "04", "Le mot de passe doit comporter au moins 12 caractères.",
     "Le mot de passe du compte de session comporte au moins 12 caractères"),
    ("fr", "04", "Un incident de sécurité doit être signalé à Allô Support en moins d'une heure.",
     "est signalé à Allô Support dans un délai d'une heure."),
    ("fr", "04", "La session se verrouille toute seule après 10 minutes sans activité.",
     "La session se verrouille automatiquement après 10 minutes d'inactivité"),
    ("fr", "04", "Les sauvegardes des serveurs de fichiers sont gardées 30 jours.",
     "Les serveurs de fichiers sont sauvegardés chaque nuit et les sauvegardes sont conservées 30 jours."),
    ("fr", "04", "La RSSI de l'agence est Nadia Benali.",
     "La responsable de la sécurité des systèmes d'information (RSSI) est Nadia Benali."),
    ("fr", "04", "En cas de perte d'un téléphone de l'agence, il faut prévenir la DSI sous 24 heures.",
     "La perte ou le vol d'un ordinateur, d'un téléphone ou d'une clé USB de l'agence est déclaré à la DSI"),
    ("fr", "04", "Seules les clés USB chiffrées fournies par la DSI sont autorisées.",
     "Seules les clés USB chiffrées remises par la DSI peuvent être utilisées."),
    ("fr", "04", "Les codes Wi-Fi des visiteurs sont valables 8 heures.",
     "Les codes d'accès sont délivrés par l'accueil et sont valables 8 heures."),
    ("fr", "04", "En novembre 2023, 11 % des destinataires ont cliqué sur le lien piège.",
     "Lors de la campagne de novembre 2023, 11 % des destinataires ont cliqué"),
    ("fr", "02", "Un agent à temps plein peut être en télétravail 2 jours par semaine au maximum.",
     "Un agent à temps plein peut télétravailler jusqu'à 2 jours par semaine."),
    ("fr", "02", "Personne ne télétravaille le mardi, pour permettre les réunions de service.",
     "Le mardi est une journée sans télétravail pour l'ensemble des agents"),
    ("fr", "02", "L'allocation de télétravail est de 2,70 € par jour.",
     "Une allocation forfaitaire de télétravail de 2,70 € par jour télétravaillé"),
    ("fr", "02", "Le télétravail est possible après 6 mois sur le poste.",
     "Le télétravail est ouvert aux agents qui occupent leur poste depuis au moins 6 mois"),
]


def sections(lang: str, number: str) -> list[str]:
    """A document's sections (## headings): a passage as retrieval would return one."""
    [path] = (DOCS / lang).glob(f"{number}_*.md")
    text = path.read_text(encoding="utf-8").replace("<!-- page -->", "")
    return [part.strip() for part in re.split(r"\n(?=## )", text) if part.strip()]


def quote_cases():
    """(language, sentence, right passage, wrong passage, gold) for each paraphrase."""
    cases = []
    for lang, number, sentence, gold in QUOTES:
        parts = sections(lang, number)
        at = next(i for i, part in enumerate(parts) if gold in part)
        wrong = parts[(at + 1) % len(parts)] if at + 1 < len(parts) else parts[at - 1]
        cases.append((lang, sentence, parts[at], wrong, gold))
    return cases


def compare_quotes(embedder) -> dict:
    from rag import language as languages
    from rag.written import log_idf, stem_recall

    corpus = {lang: [s for number in ("01", "02", "03", "04", "05", "06") for s in sections(lang, number)]
              for lang in ("en", "fr")}
    rarity = {lang: log_idf(texts, languages.get(lang)) for lang, texts in corpus.items()}
    rows = []
    for lang, sentence, right, wrong, gold in quote_cases():
        language = languages.get(lang)
        scored = {}
        for name, passage in (("right", right), ("wrong", wrong)):
            quotes = [q.text for q in language.segments(passage) if re.search(r"\w", q.text)
                      and not q.text.lstrip().startswith("#")]
            vectors = embedder.encode([sentence, *quotes])
            cosine = [float(v) for v in vectors[1:] @ vectors[0]]
            recall = [stem_recall(sentence, q, language) for q in quotes]
            weighted = [stem_recall(sentence, q, language, rarity=rarity[lang]) for q in quotes]
            scored[name] = (quotes, {
                "stem recall": recall, "idf stem recall": weighted, "cosine": cosine,
                "stem recall + 0.5 cosine": [r + 0.5 * c for r, c in zip(recall, cosine)],
                "idf recall + 0.25 cosine": [r + 0.25 * c for r, c in zip(weighted, cosine)],
                "idf recall + 0.5 cosine": [r + 0.5 * c for r, c in zip(weighted, cosine)],
                "idf recall + 1.0 cosine": [r + 1.0 * c for r, c in zip(weighted, cosine)]})
        rows.append((lang, sentence, gold, scored))
    report = {}
    for measure in rows[0][3]["right"][1]:
        hits, right_best, wrong_best, misses = 0, [], [], []
        for lang, sentence, gold, scored in rows:
            quotes, measures = scored["right"]
            values = measures[measure]
            best = max(range(len(quotes)), key=values.__getitem__)
            hit = gold in quotes[best] or quotes[best] in gold
            hits += hit
            if not hit:
                misses.append((sentence, quotes[best]))
            right_best.append(values[best])
            wrong_best.append(max(scored["wrong"][1][measure]))
        # The threshold that best parts right passages from wrong ones on these cases.
        threshold = max(sorted(set(right_best + wrong_best)),
                        key=lambda t: sum(v >= t for v in right_best) - sum(v >= t for v in wrong_best))
        report[measure] = {"accuracy": hits / len(rows), "threshold": round(threshold, 3),
                           "right_at_threshold": sum(v >= threshold for v in right_best) / len(rows),
                           "wrong_at_threshold": sum(v >= threshold for v in wrong_best) / len(rows),
                           "misses": misses}
    return report


def check_threshold(embedder, threshold: float, weight: float) -> dict:
    """The shipped measure and threshold (rag.written) on the same cases: share kept when right and when wrong."""
    from rag import language as languages
    from rag.retrieve import Passage
    from rag.written import Support, best_quote, cosine_with, log_idf

    corpus = {lang: [s for number in ("01", "02", "03", "04", "05", "06") for s in sections(lang, number)]
              for lang in ("en", "fr")}
    right_ok = wrong_ok = right_hit = 0
    cases = quote_cases()
    for lang, sentence, right, wrong, gold in cases:
        language = languages.get(lang)
        support = Support(log_idf(corpus[lang], language), cosine_with(embedder), weight)
        passages = {1: Passage("r", right, "d", None, 0, len(right), language=lang),
                    2: Passage("w", wrong, "d", None, 0, len(wrong), language=lang)}
        n, quote, score = best_quote(sentence, passages, [1], language, support)
        right_ok += score >= threshold
        right_hit += gold in quote.text
        wrong_ok += best_quote(sentence, passages, [2], language, support)[2] >= threshold
    return {"cases": len(cases), "gold quote chosen": right_hit / len(cases),
            "right passage kept": right_ok / len(cases), "wrong passage kept": wrong_ok / len(cases)}


# -- written mode over a question set -----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


def run_set(name: str, gguf: Path | None, limit: int, out: Path | None, dropped_to=None) -> dict:
    """Written mode over one question set (any set of bench/evaluate.py). `limit`: a random sample of that many
    questions, fixed by seed 0 (bench/squad.py's `sample`, as evaluate.py draws its SQuAD and workplace samples).
    `dropped_to`: an open text file that gets one JSON line per dropped sentence, with its rule code, the question
    and the text of the passages it cited, for reading by hand."""
    import shutil
    import socket
    from dataclasses import replace

    import squad
    from evaluate import load_set  # bench/evaluate.py

    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.llama_server import running
    from rag.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="written-bench-"))
    items, docs = load_set(name, tmp / "docs", limit)  # builds the documents under tmp
    items = squad.sample(items, limit)  # the R-manual sets come whole from load_set
    if gguf is None:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_written_server import qwen_gguf

        gguf = qwen_gguf(Settings.from_env().cache_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rows = []
    settings = Settings(store=str(tmp / "store"), key_file=tmp / "key")
    started = time.perf_counter()
    run_ingest([docs], settings)
    ingest_s = time.perf_counter() - started
    with running(gguf, port) as url, \
            Assistant.open(settings=replace(settings, llm=url, mode="written")) as assistant:
        pipeline = assistant.pipeline
        drafts = []  # what each question retrieved: the passages the model was given are the first ones
        retrieve = pipeline.retrieve
        pipeline.retrieve = lambda question: drafts.append(retrieve(question)) or drafts[-1]
        for item in items:
            drafts.clear()
            started = time.perf_counter()
            answer = assistant.ask(item.text)
            seconds = time.perf_counter() - started
            given = dict(enumerate(drafts[0].passages[:pipeline.context_passages], start=1)) if drafts else {}
            rows.append({"id": item.id, "question": item.text, "gold": item.answers, "mode": answer.mode,
                         "fallback": answer.fallback, "abstained": answer.abstained, "answer": answer.answer,
                         "sentences": list(answer.sentences), "dropped": list(answer.dropped),
                         "given": {n: {"source": p.source, "page": p.page} for n, p in given.items()},
                         "seconds": seconds, "first_token_ms": answer.timings.get("first_token_ms")})
            for d in answer.dropped if dropped_to else ():
                cited = [{"n": n, "source": given[n].source, "page": given[n].page, "text": given[n].text}
                         for n in d["citations"] if n in given]
                dropped_to.write(json.dumps({"set": name, "id": item.id, "question": item.text, "gold": item.answers,
                                             **d, "fallback": answer.fallback, "cited_passages": cited},
                                            ensure_ascii=False) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    kept = sum(len(r["sentences"]) for r in rows)
    dropped = [d for r in rows for d in r["dropped"]]
    written = kept + len(dropped)
    codes: dict[str, int] = {}
    for d in dropped:
        codes[d["code"]] = codes.get(d["code"], 0) + 1
    firsts = [r["first_token_ms"] / 1000 for r in rows if r["first_token_ms"] is not None]
    figures = {"set": name, "questions": len(rows), "sample_seed": 0 if limit else None,
               "written_sentences": written, "kept": kept,
               "kept_share": round(kept / written, 3) if written else 0.0, "dropped_by_rule": codes,
               "fallback_share": round(sum(r["fallback"] for r in rows) / len(rows), 3) if rows else 0.0,
               "written_answers": sum(r["mode"] == "written" for r in rows),
               "no_sentence_written": sum(not r["sentences"] and not r["dropped"] for r in rows),
               "abstained": sum(r["abstained"] for r in rows),
               "p50_s": round(percentile([r["seconds"] for r in rows], 0.5), 2),
               "p95_s": round(percentile([r["seconds"] for r in rows], 0.95), 2),
               "first_token_p50_s": round(percentile(firsts, 0.5), 2),
               "first_token_p95_s": round(percentile(firsts, 0.95), 2),
               "first_token_answers": len(firsts), "ingest_s": round(ingest_s, 1)}
    if out:
        out.write_text(json.dumps({"figures": figures, "rows": rows}, ensure_ascii=False, indent=1))
    return figures


def sets() -> list[str]:
    from evaluate import SETS  # bench/evaluate.py

    return list(SETS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quotes", action="store_true", help="compare the measures of support (no model)")
    parser.add_argument("--set", action="append", default=[], choices=sets(),
                        help="a question set of bench/evaluate.py (repeatable)")
    parser.add_argument("--gguf", type=Path, help="the model the llama.cpp server serves (default: the test model)")
    parser.add_argument("--limit", type=int, default=0, help="a fixed random sample (seed 0) of this many questions")
    parser.add_argument("--out", type=Path, help="write the rows of each set to OUT-<set>.json")
    parser.add_argument("--dropped", type=Path, help="write every dropped sentence, its rule code, question and "
                        "cited passages here (JSON lines, all sets)")
    args = parser.parse_args()
    if args.quotes:
        from rag.embed import load_embedder
        from rag.settings import Settings
        from rag.written import SUPPORT_COSINE_WEIGHT, SUPPORT_THRESHOLD

        embedder = load_embedder("default", "auto", Settings.from_env().cache_dir)
        report = compare_quotes(embedder)
        print("| measure | accuracy | best threshold | right passages over it | wrong passages over it |")
        print("|---|---:|---:|---:|---:|")
        for measure, r in report.items():
            print(f"| {measure} | {r['accuracy']:.3f} | {r['threshold']:.3f} | {r['right_at_threshold']:.3f} | "
                  f"{r['wrong_at_threshold']:.3f} |")
        for measure, r in report.items():
            for sentence, chosen in r["misses"]:
                print(f"miss ({measure}): {sentence!r} -> {chosen!r}", file=sys.stderr)
        print("shipped:", check_threshold(embedder, SUPPORT_THRESHOLD, SUPPORT_COSINE_WEIGHT))
    dropped = open(args.dropped, "w", encoding="utf-8") if args.dropped else None
    try:
        for name in args.set:
            out = args.out.with_name(f"{args.out.name}-{name}.json") if args.out else None
            print(json.dumps(run_set(name, args.gguf, args.limit, out, dropped), ensure_ascii=False), flush=True)
    finally:
        if dropped:
            dropped.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
