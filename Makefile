# The two commands a new user needs: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# Store and key of the demo live in the project, never in the user's real key folder.
DEMO_ENV := RAG_STORE=data/store RAG_KEY_FILE=$(CURDIR)/.demo-key/key
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF

.PHONY: setup setup-dev demo test test-fast bench eval eval-rmanuals eval-rmanuals-heldout eval-workplace eval-french eval-french-heldout calibrate calibrate-fr pdfs fixtures clean wheelhouse bench-scale bench-remote-llm bench-ask

# The demo needs only the runtime packages; tests add the dev extra (llama.cpp's server compiles there).
setup: $(STAMP)
setup-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the CPU wheel: an open range would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	# llama-cpp-python compiles here: AVX2 rather than this CPU's own instructions, because a wheel cached
	# by pip may later run on a CI machine without AVX-512.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(DEV_STAMP)

demo: $(STAMP)
	$(DEMO_ENV) $(BIN)/python -m ingest data/docs
	$(DEMO_ENV) $(BIN)/python -m rag.ask "How many days of paid annual leave do employees get?"
	$(DEMO_ENV) $(BIN)/python -m rag.ask "What is the parking fee at the Bergen office?"

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

# Everything but the slow container and crash-safety tests, for a quick local check; CI runs `make test`.
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(DEV_STAMP)
	$(BIN)/python bench/ingest_bench.py
	# A faster embedder route must find the right page as often as fp32: checked in the same run.
	$(BIN)/python bench/route_quality.py
	# OCR pages/s and fidelity; PDF ingestion keeps its pace beside the other formats (same run).
	$(BIN)/python bench/formats_bench.py

# SQuAD dev (report only), ours beside the textbook LangChain pipeline.
eval: $(DEV_STAMP)
	$(BIN)/python bench/evaluate.py --set squad-dev --textbook

# The R-manual questions: the design half. The held-out half (eval-rmanuals-heldout) is run only at the end of
# a piece of work, with every rule switched off in turn.
eval-rmanuals: $(DEV_STAMP)
	$(BIN)/python bench/evaluate.py --set rmanuals-design

eval-rmanuals-heldout: $(DEV_STAMP)
	$(BIN)/python bench/evaluate.py --set rmanuals-heldout --ablate all

# The project's own questions on invented workplace documents: how abstention carries over from Wikipedia.
eval-workplace: $(DEV_STAMP)
	$(BIN)/python bench/evaluate.py --set workplace --limit 0

# French questions on French documents and the same questions in English on their English twins (design
# halves; eval-french-heldout runs both held-out halves, only at the end of a piece of work).
eval-french: $(DEV_STAMP)
	$(BIN)/python bench/evaluate.py --set fr-design
	$(BIN)/python bench/evaluate.py --set en-fr-design

eval-french-heldout: $(DEV_STAMP)
	$(BIN)/python bench/evaluate.py --set fr-heldout
	$(BIN)/python bench/evaluate.py --set en-fr-heldout

calibrate: $(DEV_STAMP)
	$(BIN)/python bench/calibrate.py

# A French abstention fit (rag/calibration.fr.json) on the French training set, never an evaluation set; not
# packaged: with the English-only embedder it did worse than the English fit (docs/design.md#abstention-per-language).
calibrate-fr: $(DEV_STAMP)
	$(BIN)/python bench/calibrate.py --lang fr

# Every wheel the image needs, fetched or built here with the project's constraints: the image build
# installs from this folder only (no registry). The wheels match this venv's Python, which must be the
# image's (3.11, Debian bookworm's).
wheelhouse: wheelhouse/.complete

wheelhouse/.complete: pyproject.toml constraints.txt | $(STAMP)
	rm -rf wheelhouse && mkdir wheelhouse
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > wheelhouse/dependencies.txt
	$(BIN)/pip wheel --quiet -c constraints.txt -r wheelhouse/dependencies.txt setuptools -w wheelhouse
	# Exact pins of what was fetched: the image installs these, and a changed version changes the build cache key.
	ls wheelhouse/*.whl | sed -E 's|.*/([^-]+)-([^-]+)-.*|\1==\2|' > wheelhouse/requirements.txt
	touch $@

# The inference image of compose.yaml (`--profile inference`): llama.cpp's OpenAI-compatible server from
# llama-cpp-python, the version the dev venv compiled (pip's cache has that wheel, so this takes seconds
# there; uncached it compiles for about 18 minutes). Kept apart so that `make wheelhouse` stays quick.
.PHONY: wheelhouse-inference
wheelhouse-inference: wheelhouse/inference/.complete

wheelhouse/inference/.complete: wheelhouse/.complete | $(DEV_STAMP)
	rm -rf wheelhouse/inference && mkdir wheelhouse/inference
	$(BIN)/python -c "from importlib.metadata import version; print(f\"llama-cpp-python[server]=={version('llama-cpp-python')}\")" > wheelhouse/inference/dependencies.txt
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --quiet -c constraints.txt -r wheelhouse/inference/dependencies.txt -w wheelhouse/inference
	ls wheelhouse/inference/*.whl | sed -E 's|.*/([^-]+)-([^-]+)-.*|\1==\2|' > wheelhouse/inference/requirements.txt
	touch $@

# A cold one-shot ask on the demo store (ingested if needed): wall time and peak memory of fresh processes.
bench-ask: $(STAMP)
	$(DEMO_ENV) $(BIN)/python -m ingest data/docs
	$(DEMO_ENV) $(BIN)/python bench/ask_bench.py

bench-scale: $(DEV_STAMP)
	$(BIN)/python bench/scale_bench.py

bench-remote-llm: $(DEV_STAMP)
	$(BIN)/python bench/remote_llm_bench.py

pdfs: $(DEV_STAMP)
	$(BIN)/python scripts/make_demo_pdfs.py

# One file of each supported format with invented facts (what the formats tests ingest), into FIXTURES_DIR.
FIXTURES_DIR ?= build/format-fixtures
fixtures: $(DEV_STAMP)
	$(BIN)/python scripts/make_format_fixtures.py $(FIXTURES_DIR)

clean:
	rm -rf data/store .demo-key .pytest_cache
