# Leistungsbörse: `make run` serves the demo, `make test` runs the whole suite. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
KERN := static/vendor/kern
export FLASK_APP := wsgi

.PHONY: install run test lint translations serve-prod clean

install: $(VENV)/.installed $(KERN)/kern.min.css translations

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/@kern-ux/native/dist/kern.min.css: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

$(KERN)/kern.min.css: node_modules/@kern-ux/native/dist/kern.min.css
	rm -rf $(KERN) && mkdir -p $(KERN)
	cp -r node_modules/@kern-ux/native/dist/kern.min.css node_modules/@kern-ux/native/dist/fonts $(KERN)/

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d marketplace/translations

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: install lint
	$(BIN)/pytest -q -p no:cacheprovider
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== the same suite on PostgreSQL ($$TEST_DATABASE_URL) =="; \
		DATABASE_BACKEND=postgresql $(BIN)/pytest -q -p no:cacheprovider; \
	fi

# Extract new texts into the catalogue template and merge them into the English catalogue.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k pgettext:1c,2 -k lazy_pgettext:1c,2 -o marketplace/translations/messages.pot .
	$(BIN)/pybabel update -N -w 120 -i marketplace/translations/messages.pot -d marketplace/translations

clean:
	rm -rf $(VENV) node_modules static/vendor instance
