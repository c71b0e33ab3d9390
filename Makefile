# The project's commands. Each installs what it needs into .venv first (a fresh machine needs
# only Python 3.11+ and make).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Where MNIST's IDX files are; models/mnist.py looks in ../shared/data/mnist when it is unset.
MNIST_DIR ?= $(wildcard ../shared/data/mnist)
export MNIST_DIR

ONNX_MODELS ?=  # which models `make export-onnx` converts (digits, strings, strings_pages); empty: all
STRINGS_LAST_EPOCHS := 1  # epochs of the string reader's last stage that the shipped weights had
RUNTIME := $(VENV)/.runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install install-dev run test eval eval-real eval-adapt eval-rules calibrate bench bench-reading bench-hosts train train-strings train-strings-pages export-onnx load soak clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(RUNTIME)
install-dev: $(DEV)

run: install  ## the service: web on http://127.0.0.1:$$PORT (8000) and a worker
	$(PY) run.py

test: install-dev  ## lint, then the whole test suite (real PostgreSQL and Redis where they run)
	$(PY) -m ruff check .
	$(PY) -m pytest

eval: install  ## segmentation + recognition on generated pages (two styles), beside Tesseract; sample forms; struck fields
	$(PY) -m evaluation.pages
	$(PY) -m evaluation.forms
	$(PY) -m evaluation.struck

eval-real: install  ## real cheque amounts (layout=field) and held-out writers
	$(PY) -m evaluation.real

eval-adapt: install  ## the review loop on real cheques: 300 reviewed, the loop runs, the other 160 before and after
	$(PY) -m evaluation.adapt

eval-rules: install  ## cheques read with and without the template's field rules: exact and straight through
	$(PY) -m evaluation.rules

calibrate: install  ## fit how the readers' opinions combine, on calibration writers' fields
	$(PY) -m evaluation.calibrate_fields

bench: install-dev  ## model speed, then the service against its own pipeline on the same pages
	$(PY) -m models.bench
	$(PY) -m bench.service

bench-reading: install-dev  ## a page's reading time against the code before the line readers (issue 12's 1.5x)
	$(PY) -m bench.reading

bench-hosts: install-dev  ## (root) one batch read by workers on one, then two network-namespace hosts
	$(PY) -m bench.hosts

train: install  ## reproduce the shipped glyph model: a base run, fine-tuning on cut glyphs, then on other writers
	$(PY) -m models.train --arch cnn --epochs 30 --batch-size 128 --learning-rate 0.002 --seed 1
	$(PY) -m models.train --arch cnn --epochs 10 --batch-size 128 --learning-rate 0.0005 --seed 2 \
		--pipeline-pages 3000 --init-from models/weights/digits.keras
	$(PY) -m models.train --arch cnn --epochs 6 --batch-size 128 --learning-rate 0.0005 --seed 3 \
		--pipeline-pages 3000 --hands-share 0.3 --init-from models/weights/digits.keras
	$(MAKE) --no-print-directory export-onnx ONNX_MODELS=digits

train-strings: install  ## the string reader (CRNN/CTC) in the seven stages the shipped one had, the page fields' one after the fifth
	$(PY) -m models.train_strings --samples 150000 --epochs 4 --stop-after 2 --seed 1 --learning-rate 0.001
	$(PY) -m models.train_strings --samples 300000 --epochs 4 --stop-after 1 --seed 2 --learning-rate 0.0007 \
		--init-from models/weights/strings.keras
	$(PY) -m models.train_strings --samples 400000 --epochs 3 --stop-after $(STRINGS_LAST_EPOCHS) --seed 3 \
		--learning-rate 0.0007 --init-from models/weights/strings.keras
	$(PY) -m models.train_strings --samples 400000 --epochs 2 --seed 4 --learning-rate 0.0005 \
		--init-from models/weights/strings.keras
	$(PY) -m models.train_strings --samples 200000 --epochs 1 --seed 5 --learning-rate 0.0003 \
		--init-from models/weights/strings.keras
	$(MAKE) --no-print-directory train-strings-pages
	$(PY) -m models.train_strings --samples 100000 --epochs 1 --seed 7 --learning-rate 0.0002 \
		--init-from models/weights/strings.keras
	$(PY) -m models.train_strings --samples 100000 --epochs 1 --seed 10 --learning-rate 0.0002 \
		--init-from models/weights/strings.keras
	$(MAKE) --no-print-directory export-onnx ONNX_MODELS="strings strings_pages"

train-strings-pages: install  ## the page fields' CRNN: the string reader trained further on fields cut from pages
	$(PY) -m models.train_strings --samples 20000 --pages 1600 --epochs 2 --seed 6 --learning-rate 0.0002 \
		--init-from models/weights/strings.keras --output models/weights/strings_pages.keras

export-onnx: install-dev  ## the workers' ONNX files (digits, strings, strings_pages) from the shipped Keras files
	$(PY) -m models.export_onnx $(ONNX_MODELS)

load: install-dev  ## 50 clients x 5 pages against the service on Redis and PostgreSQL
	$(PY) -m bench.load

soak: install-dev  ## 30 minutes of uploads, hostile files, killed workers, restarted servers; then checks
	$(PY) -m bench.soak

clean:
	rm -rf var results/*.png
