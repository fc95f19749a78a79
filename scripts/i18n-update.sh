#!/usr/bin/env bash
# Refresh the message catalogue: extract every translatable string into
# web/locale/messages.pot, then merge it into the Simplified Chinese catalogue
# (created on first run). Existing translations are kept; new strings arrive
# with an empty msgstr and strings gone from the source become obsolete (#~).
# Fuzzy matching is off so no guessed translation slips in unreviewed.
# Running it twice in a row changes nothing (only the dates would differ).
#
# Usage: scripts/i18n-update.sh        then translate what it lists as missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYBABEL=.venv/bin/pybabel
LOCALE_DIR=web/locale
DOMAIN=messages
LOCALE=zh
POT="$LOCALE_DIR/$DOMAIN.pot"
PO="$LOCALE_DIR/$LOCALE/LC_MESSAGES/$DOMAIN.po"

new_pot=$(mktemp "${TMPDIR:-/tmp}/concord-messages.XXXXXX")
trap 'rm -f "$new_pot"' EXIT

"$PYBABEL" -q extract -F babel.cfg -k N_ --no-location --sort-output \
    --project=Concord -o "$new_pot" .

# Keep the old template (and its date) when no message changed.
without_date() { grep -v '^"POT-Creation-Date: ' "$1"; }
if [[ -f "$POT" ]] && cmp -s <(without_date "$POT") <(without_date "$new_pot"); then
    echo "$POT: unchanged"
else
    cp "$new_pot" "$POT"
    echo "$POT: updated"
fi

if [[ -f "$PO" ]]; then
    "$PYBABEL" -q update -i "$POT" -d "$LOCALE_DIR" -D "$DOMAIN" -l "$LOCALE" \
        --no-fuzzy-matching --ignore-pot-creation-date
else
    "$PYBABEL" -q init -i "$POT" -d "$LOCALE_DIR" -D "$DOMAIN" -l "$LOCALE"
fi

# List what still needs a translator.
.venv/bin/python - "$PO" <<'PY'
import sys

from babel.messages.pofile import read_po

with open(sys.argv[1], "rb") as handle:
    catalog = read_po(handle)
todo = []
for message in catalog:
    if not message.id:
        continue
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if message.fuzzy or not all(strings):
        todo.append(message.id if isinstance(message.id, str) else " / ".join(message.id))
total = sum(1 for message in catalog if message.id)
print(f"{sys.argv[1]}: {total} messages, {len(todo)} untranslated or fuzzy")
for msgid in todo:
    print(f"  - {msgid}")
PY
