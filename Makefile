# LEAP toolkit. `make demo` runs the pipeline on bundled real data; `make test` runs the tests.
# Both set up .venv on first use. Reproduction targets for the full EPIC-100 run are below.

# pipefail: a stage that crashes inside a demo pipeline stops make with its message.
SHELL       := bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed in the same pip command as sentence-transformers, pinned, so pip never
# resolves an unpinned torch to a multi-GB CUDA wheel on a CPU machine. On a machine whose
# index has no CPU build of this version, point PIP_TORCH_ARGS at one (e.g. --extra-index-url ...).
TORCH          ?= torch==2.13.0
PIP_TORCH_ARGS ?=
# onnxruntime or onnxruntime-gpu: never both (they overwrite each other's files).
ORT_EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)

.PHONY: install test demo man clean programs train-recognition train-anticipation eval
.DEFAULT_GOAL := help

help:
	@echo "make demo    run the whole pipeline on bundled real EPIC data (sets itself up)"
	@echo "make test    run the test suite (sets itself up)"
	@echo "make install create $(VENV) with the project and its $(ORT_EXTRA),train,dev extras (make demo needs only plot)"
	@echo "make man     regenerate man/ from the tools' --help"
	@echo "make clean   remove build outputs (keeps $(VENV))"

# `pip install .` puts man/ in the venv's share/man (pyproject data-files), where `man` finds it
# for a venv on PATH; an editable install does not copy data files, so they are linked.
MAN_LINKS = mkdir -p $(VENV)/share/man/man1 && ln -sf $(CURDIR)/man/leap-*.1 $(VENV)/share/man/man1/
# setuptools' "Editable installation" warning box is noise for a user's own checkout.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PIP_TORCH_ARGS) "$(TORCH)" -e ".[$(ORT_EXTRA),train,dev,plot]"
	$(MAN_LINKS)
	touch $@

# The demo needs the light tools and matplotlib only (no torch, sentence-transformers or
# onnxruntime: make install / make test add them); a full install already covers it.
$(VENV)/.demo: pyproject.toml
	@if [ ! $(VENV)/.installed -nt pyproject.toml ]; then \
	  test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	  echo "setting up $(VENV) for the demo (light tools and matplotlib)"; \
	  $(PIP) install -q --disable-pip-version-check -e ".[plot]"; fi
	@$(MAN_LINKS)
	@touch $@

test: install
	$(BIN)/python -m pytest -q

man: install
	rm -f man/leap-*.1
	$(BIN)/python -m leap_cli.manpages man
	$(MAN_LINKS)

clean:
	rm -rf build .pytest_cache .hypothesis

# ---------------------------------------------------------------------------------------------
# Demo: the whole pipeline on bundled real data (tests/data/demo: EPIC-100 narrations, EPIC-Sounds
# events and VISOR objects/contacts of P03_22 and P06_10; real media samples for the video path;
# SYNTHETIC camera poses in the EPIC Fields format, labelled so, for leap-slam's walking: see
# tests/data/demo/fields/README.md).
# The offline `rules` model writes the programs unless OPENAI_API_KEY or OPENAI_BASE_URL is set.
DEMO     := build/demo
DEMODATA := tests/data/demo

demo: $(VENV)/.demo
	@mkdir -p $(DEMO)
	$(BIN)/leap-clips $(DEMODATA)/EPIC_100_validation.sample.csv -q \
	  | $(BIN)/leap-audio --annotations $(DEMODATA)/EPIC_Sounds_validation.sample.csv -q \
	  | $(BIN)/leap-slam --fields $(DEMODATA)/fields -q \
	  | $(BIN)/leap-detect --visor $(DEMODATA)/visor -q \
	  | $(BIN)/leap-contact --visor $(DEMODATA)/visor -q \
	  | $(BIN)/leap-prompt --cache $(DEMO)/cache.db -q \
	  | $(BIN)/leap-parse -o $(DEMO)/programs.jsonl
	$(BIN)/leap-clips $(DEMODATA)/media_clips.jsonl -q | $(BIN)/leap-audio -q \
	  | $(BIN)/leap-prompt --cache $(DEMO)/cache.db -q | $(BIN)/leap-parse -q -o $(DEMO)/media_programs.jsonl
	$(BIN)/leap-stats $(DEMO)/programs.jsonl --png $(DEMO) -o $(DEMO)/stats.json
	$(BIN)/leap-show --ids P03_22_3 $(DEMO)/programs.jsonl --png $(DEMO)/P03_22_3.png > $(DEMO)/P03_22_3.txt
	$(BIN)/leap-show $(DEMO)/programs.jsonl --html $(DEMO)/programs.html
	@echo
	@echo "programs:         $(DEMO)/programs.jsonl ($$(wc -l < $(DEMO)/programs.jsonl) EPIC clips)"
	@echo "                  $(DEMO)/media_programs.jsonl (real media through leap-audio's signal path)"
	@echo "summary:          $(DEMO)/stats.json"
	@echo "figures:          $$(ls $(DEMO)/*.png | tr '\n' ' ')"
	@echo "one clip:         $(DEMO)/P03_22_3.txt  (leap-show --ids P03_22_3 $(DEMO)/programs.jsonl)"
	@echo "in a browser:     $(DEMO)/programs.html  (every clip: timeline, frames, stub, program; the set's table)"

# ---------------------------------------------------------------------------------------------
# Reproduction on the full EPIC-KITCHENS-100 (paths are yours):
#   make -j 8 programs EPIC_CSV=EPIC_100_train.csv VIDEOS=/data/EPIC-KITCHENS FIELDS=/data/fields \
#        SOUNDS=EPIC_Sounds_train.csv VISOR=/data/visor SHARDS=8
# One file per stage and shard: `make -j N` runs shards in parallel, a second `make` does nothing,
# and a changed input or setting re-runs only that stage and what follows. Each stage writes to
# .part with --resume and renames when done, so a killed run continues where it stopped (unless
# an input or setting changed since). A stage output holding retryable errors (an LLM endpoint
# down, a rate limit, the budget spent) is not finished: the next make runs exactly those clips
# again. Extra flags for one stage: CLIPS_FLAGS, AUDIO_FLAGS, ..., PARSE_FLAGS, FIT_FLAGS, PREDICT_FLAGS.
EPIC_CSV ?= EPIC_100_train.csv
OUT      ?= build/epic
SHARDS   ?= 8
VIDEOS   ?=
FIELDS   ?=
SOUNDS   ?=
SOUNDS_MODEL ?=
VISOR    ?=
DETECTOR ?=
HOA      ?=
LEAP_MODEL ?= rules
SHARD_IDS := $(shell seq 0 $$(($(SHARDS) - 1)))

# Each stage's flags from the settings above (NAME_FLAGS added); NAME_INPUTS: files it reads whose
# paths are in its flags; NAME_DEPS: the files under a source directory, in its settings stamp
# too (a file added or removed re-runs it). A stage none of them names runs with NAME_FLAGS.
CLIPS_ARGS   = $(if $(VIDEOS),--videos $(VIDEOS)) $(CLIPS_FLAGS)
AUDIO_ARGS   = $(if $(SOUNDS),--annotations $(SOUNDS),$(if $(SOUNDS_MODEL),--model $(SOUNDS_MODEL))) $(AUDIO_FLAGS)
SLAM_ARGS    = $(if $(FIELDS),--fields $(FIELDS),--fields $(OUT)) $(SLAM_FLAGS)
DETECT_ARGS  = $(if $(DETECTOR),--model $(DETECTOR),$(if $(VISOR),--visor $(VISOR))) $(DETECT_FLAGS)
CONTACT_ARGS = $(if $(HOA),--hoa $(HOA),$(if $(VISOR),--visor $(VISOR))) $(CONTACT_FLAGS)
PROMPT_ARGS  = -m $(LEAP_MODEL) $(PROMPT_FLAGS)
PARSE_ARGS   = $(PARSE_FLAGS)
AUDIO_INPUTS = $(SOUNDS) $(SOUNDS_MODEL)
# The files under a source directory are prerequisites too: a changed EPIC Fields, VISOR or
# hand-object file re-runs the stage that reads it, and what follows.
files_in     = $(if $(1),$(shell find $(1) -type f 2>/dev/null | LC_ALL=C sort))
SLAM_DEPS    := $(call files_in,$(FIELDS))
DETECT_DEPS  := $(if $(DETECTOR),$(DETECTOR),$(call files_in,$(VISOR)))
CONTACT_DEPS := $(call files_in,$(if $(HOA),$(HOA),$(VISOR)))

# Settings stamps: $(call stamp,NAME,TEXT) is the file $(STAMPS)/NAME holding TEXT (a stage's
# flags and the sources it reads), rewritten only when TEXT changed. It is a prerequisite of the
# stage, so a changed setting re-runs that stage and what follows, and an unchanged one nothing.
# Written when make reads this file, and only for goals of the reproduction (not test, demo...);
# under make -n or -q nothing is written: a changed setting makes its stage out of date (FORCE).
STAMPS := $(OUT)/settings
REPRO  := $(filter-out help install test man clean demo $(VENV)/.installed $(VENV)/.demo,$(or $(MAKECMDGOALS),help))
DRY    := $(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS)))
differ = $(subst x$(1)x,,x$(2)x)$(subst x$(2)x,,x$(1)x)
stamp  = $(if $(REPRO),$(if $(call differ,$(shell cat $(STAMPS)/$(1) 2>/dev/null),$(strip $(1): $(2))),$(call restamp,$(1),$(strip $(1): $(2)))))$(STAMPS)/$(1)
restamp = $(if $(DRY),FORCE ,$(shell mkdir -p $(STAMPS))$(file >$(STAMPS)/$(1),$(2)))
# A stamp not written (make -n, -q) is new: what depends on it is out of date.
$(STAMPS)/%: ;
# Outputs holding retryable error records are not finished: they are made again (FORCE), and
# their stage's --resume re-runs exactly the clips whose records are retryable errors.
RETRY  := $(if $(REPRO),$(shell grep -lF '"retryable":true' $(wildcard $(OUT)/*.jsonl) /dev/null 2>/dev/null))
$(RETRY): FORCE
FORCE:
.PHONY: FORCE

# The evidence stages in pipeline order, from the stage registry (leap_cli/stages.py): a stage
# registered there is chained here, reading the file of the stage before it.
EVIDENCE := $(if $(REPRO),$(or $(shell $(BIN)/python -m leap_cli.stages evidence keys 2>/dev/null),\
              $(error $(BIN)/python -m leap_cli.stages listed no stages: run make install first)))
STAGES   := $(EVIDENCE) prompt programs

FINISH = $(BIN)/python -m leap_cli.finish
# Continue a stage into $@.part: a finished $@ that is made again (retryable errors in it) is
# resumed; a .part older than an input or the settings was cut short before they changed: its
# records are stale and it starts over. On success the .part becomes $@ (see leap_cli/finish.py).
define RUN
@[ -e $@.part ] || [ ! -e $@ ] || mv $@ $@.part
@for f in $(filter-out FORCE,$^); do [ $@.part -nt $$f ] || rm -f $@.part; done
$(BIN)/leap-$(1) -q --resume -o $@.part $(2)
@$(FINISH) $(1) $@
endef

$(OUT)/clips.jsonl: $(EPIC_CSV) $(call stamp,clips,$(EPIC_CSV) $(CLIPS_ARGS))
	@mkdir -p $(OUT)
	$(call RUN,clips,$< $(CLIPS_ARGS))
# One evidence stage's rule: $(1) the stage, $(2) its variables' prefix, $(3) the stage before it
# ("-": none; the first stage reads the clips and splits them, --shard K/N).
define EVIDENCE_RULE
$(OUT)/$(1).%.jsonl: $(if $(filter -,$(3)),$(OUT)/clips.jsonl,$(OUT)/$(3).%.jsonl) $$($(2)_INPUTS) $$($(2)_DEPS) \
    $$(call stamp,$(1),$(if $(filter -,$(3)),--shard K/$$(SHARDS)) $$(or $$($(2)_ARGS),$$($(2)_FLAGS)) $$($(2)_DEPS))
	$$(call RUN,$(1),$$<$(if $(filter -,$(3)), --shard $$*/$$(SHARDS)) $$(or $$($(2)_ARGS),$$($(2)_FLAGS)))
endef
chain = $(eval $(call EVIDENCE_RULE,$(1),$(shell echo $(1) | tr a-z A-Z),$(2)))
$(foreach i,$(shell seq $(words $(EVIDENCE))),$(call chain,$(word $(i),$(EVIDENCE)),$(word $(i),- $(EVIDENCE))))
$(OUT)/prompt.%.jsonl: $(OUT)/$(lastword $(EVIDENCE)).%.jsonl $(call stamp,prompt,$(PROMPT_ARGS))
	$(call RUN,prompt,$< $(PROMPT_ARGS))
$(OUT)/programs.%.jsonl: $(OUT)/prompt.%.jsonl $(call stamp,parse,$(PARSE_ARGS))
	$(call RUN,parse,$< $(PARSE_ARGS))
$(OUT)/programs.jsonl: $(OUT)/clips.jsonl $(foreach k,$(SHARD_IDS),$(OUT)/programs.$(k).jsonl)
	$(BIN)/leap-merge -q --order $< $(foreach k,$(SHARD_IDS),$(OUT)/programs.$(k).jsonl) -o $@.part
	@$(FINISH) merge $@
	$(BIN)/leap-stats $@ --png $(OUT) -o $(OUT)/stats.json
programs: $(OUT)/programs.jsonl
# Every stage file is named here, so none is an intermediate file: one that was deleted is made
# again (an intermediate one would be skipped while what was built from it is up to date).
$(foreach s,$(STAGES),$(foreach k,$(SHARD_IDS),$(OUT)/$(s).$(k).jsonl)):
# A recipe that fails half way (leap-eval ... > metrics.json) leaves no file a later make would trust.
.DELETE_ON_ERROR:

# Training (GPU cluster; the paper: UniFormerV2-L/14, 32 frames, K400 weights). The "Full" model
# first trains a program-only network (5 epochs), then freezes it as context for the final one.
# For more GPUs run the same leap-train under torchrun: TRAIN="torchrun --nproc-per-node 8 $(BIN)/leap-train".
VAL_CSV    ?= EPIC_100_validation.csv
BACKBONE   ?= uniformerv2-l14
PRETRAINED ?=
EPOCHS     ?= 30
RUNS       ?= build/runs
TRAIN      ?= $(BIN)/leap-train
TASKS      := recognition anticipation
# PRETRAINED is the official K400(+K710) UniFormerV2 checkpoint the paper starts from; without it
# the backbone trains from scratch. Fits run with --resume (a killed or pre-empted run continues)
# and touch a `trained` marker when they end: best.pt exists after the first epoch already. A
# last.pt older than the programs, the validation clips or the settings was trained on other
# inputs: the fit starts afresh (leap-train itself refuses to resume it).
FIT_ARGS     = $(if $(VIDEOS),--videos $(VIDEOS)) --backbone $(BACKBONE) $(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(FIT_FLAGS)
PREDICT_ARGS = $(if $(VIDEOS),--videos $(VIDEOS)) $(PREDICT_FLAGS)
FIT = $(TRAIN) fit --programs $< --val $(OUT)/val_clips.jsonl $(FIT_ARGS) --resume
define FRESH
@for f in $^; do [ $(@D)/last.pt -nt $$f ] || [ ! -e $(@D)/last.pt ] || \
  { echo "make: $(@D)/last.pt is older than $$f: training afresh"; rm -f $(@D)/last.pt $(@D)/best.pt; }; done
endef

$(OUT)/val_clips.jsonl: $(VAL_CSV) $(call stamp,val_clips,$(VAL_CSV) $(CLIPS_ARGS))
	@mkdir -p $(OUT)
	$(call RUN,clips,$< $(CLIPS_ARGS))
$(RUNS)/%-program/trained: $(OUT)/programs.jsonl $(OUT)/val_clips.jsonl $(call stamp,fit-program,$(FIT_ARGS))
	$(FRESH)
	$(FIT) --task $* --stage program --epochs 5 --out $(@D) && touch $@
$(RUNS)/%/trained: $(OUT)/programs.jsonl $(OUT)/val_clips.jsonl $(RUNS)/%-program/trained $(call stamp,fit,$(FIT_ARGS) --epochs $(EPOCHS))
	$(FRESH)
	$(FIT) --task $* --context $(RUNS)/$*-program/best.pt --epochs $(EPOCHS) --out $(@D) && touch $@
# A predictions file with error records is not done: the errors are taken out of it (the next
# make predicts those clips again) and make stops, naming the reasons.
$(RUNS)/%/predictions.jsonl: $(RUNS)/%/trained $(OUT)/val_clips.jsonl $(call stamp,predict,$(PREDICT_ARGS))
	@for f in $^; do [ $@.part -nt $$f ] || rm -f $@.part; done
	$(BIN)/leap-train predict --checkpoint $(@D)/best.pt --context $(RUNS)/$*-program/best.pt \
	  $(OUT)/val_clips.jsonl $(PREDICT_ARGS) -q --resume -o $@.part
	@$(FINISH) --strict train $@
$(RUNS)/%/metrics.json: $(RUNS)/%/predictions.jsonl $(VAL_CSV)
	$(BIN)/leap-eval $* --predictions $< --annotations $(VAL_CSV) > $@
	cat $@
$(foreach t,$(TASKS),$(RUNS)/$(t)-program/trained $(RUNS)/$(t)/predictions.jsonl):

train-recognition: $(RUNS)/recognition/trained
train-anticipation: $(RUNS)/anticipation/trained
eval: $(RUNS)/recognition/metrics.json $(RUNS)/anticipation/metrics.json
