# kefu: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
PYTHON ?= /usr/bin/python3
BIN := bin/kefu
ORT_LIB := third_party/onnxruntime/libonnxruntime.so.1
DEMO := testdata/bots/demo
CLINC ?= ../shared/data/clinc150
# Recipe settings for the demo bot: a small n-gram table keeps the model a few MB.
DEMO_FLAGS ?= --size tiny --ngram-dim 32 --ngram-buckets 8192
# Recipe settings for CLINC150 (English, 151 labels, 15k examples): an
# ensemble of 4 seeds of the wide preset (2 layers, hidden 256), two trained
# at a time in bfloat16, one noisy copy per example with WordNet synonyms,
# per-branch losses, 4 epochs (validation accuracy plateaus by then), 500
# WordNet sentences a epoch as extra oos examples, an oos threshold that may
# cost 0.2 points in scope.
CLINC_FLAGS ?= --size wide --epochs 4 --augment 1 --batch 64 --ngram-dim 128 --dropout 0.2 --branch-loss 0.5 \
	--members 4 --jobs 2 --bf16 --wordnet /usr/share/wordnet --wordnet-outliers --oos-max-loss 0.002
export KEFU_ONNXRUNTIME_LIB ?= $(CURDIR)/$(ORT_LIB)

.PHONY: run test test-faults build onnxruntime deps train-deps test-deps model knowledge-model golden clinc bench fuzz chat clean

## run: install what is missing, build, and serve the demo bot (with its demo order service) on 127.0.0.1:8080
run: build
	$(BIN) serve --demo --config $(DEMO)/kefu.yaml

## chat: talk to the demo bot in the terminal, no server
chat: build
	$(BIN) chat --demo --config $(DEMO)/kefu.yaml

## test: install what is missing and run every test (-race), training, conversation scripts and the bounded fault suite included, then every fuzz target briefly
test: deps train-deps test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

## test-faults: the load-and-fault suite (TestFault*) in its long form; make test runs it bounded
test-faults: deps test-deps
	KEFU_FAULTS=full $(GO) test -race -count=1 -run '^TestFault' -v ./...

# redis-server for the Redis session store tests.
test-deps:
	@scripts/install-test-deps.sh

build: deps
	$(GO) build -o $(BIN) ./cmd/kefu

deps: onnxruntime
	$(GO) mod download

onnxruntime: $(ORT_LIB)
$(ORT_LIB):
	scripts/fetch-onnxruntime.sh

# Debian's PyTorch for the training recipe (models/train).
train-deps:
	@scripts/install-train-deps.sh

## model: retrain the demo bot's intent model (about 5 minutes on 2 cores)
model: train-deps build
	$(BIN) train --data $(DEMO)/intents/train.jsonl --out $(DEMO)/model -- $(DEMO_FLAGS)
	rm -f $(DEMO)/model/pytorch_model.bin
	$(BIN) eval intents --model $(DEMO)/model --data $(DEMO)/intents/test.jsonl

# Recipe settings for the knowledge base's encoder: three seeds, small.
KB_FLAGS ?= $(DEMO_FLAGS) --members 3 --jobs 2
## knowledge-model: retrain the demo bot's sentence encoder for the knowledge base (FAQ questions as classes)
KB := $(DEMO)/knowledge
knowledge-model: train-deps build
	mkdir -p out
	$(PYTHON) scripts/faq-examples.py $(KB)/faq.jsonl $(KB)/faq-extra.csv > out/faq-train.jsonl
	$(BIN) train --data out/faq-train.jsonl --out $(DEMO)/knowledge-model -- $(KB_FLAGS)
	rm -f $(DEMO)/knowledge-model/pytorch_model.bin
	$(BIN) eval retrieval --config $(DEMO)/kefu.yaml --data $(DEMO)/knowledge-eval/queries.jsonl

## golden: regenerate the tokenizer golden files from the reference tokenizer
golden: train-deps
	cd models/wordpiece/testdata && for c in "uncased:vocab.txt:" "cased:vocab-cased.txt:--cased --no-strip-accents --max-len 16"; do \
		IFS=: read name vocab flags <<<"$$c"; \
		$(PYTHON) ../../train/golden.py --vocab $$vocab --strings strings.jsonl --out golden-$$name.jsonl $$flags; done

## clinc: train on CLINC150 (train + oos_train) and evaluate on test + oos_test
clinc: train-deps build
	mkdir -p out/clinc
	cat $(CLINC)/test.jsonl $(CLINC)/oos_test.jsonl > out/clinc/test.jsonl
	time $(BIN) train --data $(CLINC)/train.jsonl --data $(CLINC)/oos_train.jsonl \
		--val $(CLINC)/val.jsonl --val $(CLINC)/oos_val.jsonl --out out/clinc/model -- $(CLINC_FLAGS)
	$(BIN) eval intents --model out/clinc/model --data out/clinc/test.jsonl --html out/clinc/report.html
	$(BIN) eval intents --model out/clinc/model --data out/clinc/test.jsonl --json > out/clinc/scores.json

## bench: every benchmark 5 times, then the concurrency comparison (interleaved pairs, medians)
bench: deps
	$(GO) test -run '^$$' -bench . -count 5 ./models/... ./dsl/... ./engine/... ./knowledge/... ./providers/... ./cmd/internal/app
	scripts/bench-classify.sh 7

## fuzz: run every fuzz target for FUZZTIME each (make test: TEST_FUZZTIME each)
FUZZTIME ?= 30s
TEST_FUZZTIME ?= 4s
fuzz: deps
	$(GO) test -run '^$$' -fuzz FuzzTokenize -fuzztime $(FUZZTIME) ./models/wordpiece
	$(GO) test -run '^$$' -fuzz FuzzClassifyHandler -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz FuzzChatHandler -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz FuzzKnowledgeHandler -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz FuzzLeakScan -fuzztime $(FUZZTIME) ./engine
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./dsl/parse
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime $(FUZZTIME) ./engine/normalize
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime $(FUZZTIME) ./engine/entity
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./engine/convo
	$(GO) test -run '^$$' -fuzz FuzzRoundTrip -fuzztime $(FUZZTIME) ./engine/session
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./engine/session
	$(GO) test -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME) ./knowledge/chunk
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./cmd/internal/config
	$(GO) test -run '^$$' -fuzz FuzzParseStream -fuzztime $(FUZZTIME) ./providers/openai
	$(GO) test -run '^$$' -fuzz FuzzParseStream -fuzztime $(FUZZTIME) ./providers/dify
	$(GO) test -run '^$$' -fuzz FuzzParseStream -fuzztime $(FUZZTIME) ./providers/coze

clean:
	rm -rf bin out
