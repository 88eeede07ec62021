#!/usr/bin/env bash
# Holds the emulator to code nobody here wrote: the vendors' official Python SDKs (pinned, from
# PyPI, in a private virtualenv, unchanged but for their base URL), CloudConvert's Node SDK (from
# npm, when node is installed) and curl for the async routes no SDK speaks. Skips, saying so,
# only when the package registry cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/../.."

A2C_SDK="api2convert==10.3.1"
CA_SDK="convertapi==2.0.1"
CC_SDK="cloudconvert==2.1.0"
CC_NODE_SDK="cloudconvert@3.0.0"
CC_KEY=sdk-check-cloudconvert-key
KEY=sdk-check-key
SECRET=sdk-check-secret
WEBHOOK_SECRET=sdk-check-webhook-secret

work=$(mktemp -d)
emu_pid=""
cleanup() {
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The emulator the test suite already built, when the caller names it (.ci/run does: a separate
# `cargo build -p` resolves other features and rebuilds much of the tree); else built here.
if [ -n "${MULTICONVERT_EMULATOR_BIN:-}" ]; then
  bin=$MULTICONVERT_EMULATOR_BIN
else
  cargo build -q -p multiconvert-emulator --locked
  bin=target/debug/multiconvert-emulator
fi

python3 -m venv "$work/venv"
py="$work/venv/bin/python"
if ! "$py" -m pip install -q --disable-pip-version-check "$A2C_SDK" "$CA_SDK" "$CC_SDK" 2>"$work/pip.log"; then
  if ! "$py" -m pip download -q --disable-pip-version-check --no-deps -d "$work/probe" "$CA_SDK" 2>/dev/null; then
    echo "sdk check SKIPPED: the package registry cannot be reached, so the vendors' SDKs cannot be installed"
    exit 0
  fi
  cat "$work/pip.log" >&2
  echo "sdk check: installing the SDKs failed" >&2
  exit 1
fi

"$bin" --online-convert-key "$KEY" --convertapi-secret "$SECRET" --cloudconvert-key "$CC_KEY" \
  --webhook-secret "$WEBHOOK_SECRET" --work-ms 50 >"$work/addresses" 2>"$work/emulator.log" &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/addresses" ] && break; sleep 0.1; done
if [ ! -s "$work/addresses" ]; then cat "$work/emulator.log" >&2; echo "the emulator did not start" >&2; exit 1; fi
field() { "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
OC_URL=$(field online_convert <"$work/addresses")
CA_URL=$(field convertapi <"$work/addresses")
CC_URL=$(field cloudconvert <"$work/addresses")
CC_ROOT=${CC_URL%/v2}

passed=0
failed=0
report() { # NAME STATUS(0 ok)
  if [ "$2" -eq 0 ]; then echo "ok $1"; passed=$((passed + 1)); else echo "FAILED $1"; failed=$((failed + 1)); fi
}

set +e
OC_URL="$OC_URL" CA_URL="$CA_URL" KEY="$KEY" SECRET="$SECRET" WEBHOOK_SECRET="$WEBHOOK_SECRET" \
  SAMPLES="$PWD/fixtures/samples" "$py" emulator/sdk/sdk_check.py >"$work/sdk.out" 2>&1
cat "$work/sdk.out"
passed=$((passed + $(grep -c '^ok ' "$work/sdk.out")))
failed=$((failed + $(grep -c '^FAILED ' "$work/sdk.out")))
if ! grep -qE '^(ok|FAILED) ' "$work/sdk.out"; then failed=$((failed + 1)); fi

# CloudConvert: its Python SDK (endpoint and sync_endpoint set to the emulator's root), then its
# Node SDK when node is installed (its callWithBase wrapped, as it takes no endpoint).
sdk_run() { # OUTPUT COMMAND...
  local out=$1
  shift
  "$@" >"$out" 2>&1
  cat "$out"
  passed=$((passed + $(grep -c '^ok ' "$out")))
  failed=$((failed + $(grep -c '^FAILED ' "$out")))
  if ! grep -qE '^(ok|FAILED) ' "$out"; then failed=$((failed + 1)); fi
}
sdk_run "$work/cc-py.out" env CC_ROOT="$CC_ROOT" CC_KEY="$CC_KEY" WEBHOOK_SECRET="$WEBHOOK_SECRET" \
  SAMPLES="$PWD/fixtures/samples" "$py" emulator/sdk/cloudconvert_check.py
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "cloudconvert Node SDK SKIPPED: node and npm are not installed"
elif ! npm install --prefix "$work/node" --silent --no-audit --no-fund "$CC_NODE_SDK" >"$work/npm.log" 2>&1; then
  if npm view "$CC_NODE_SDK" version >/dev/null 2>&1; then
    cat "$work/npm.log" >&2
    echo "FAILED cloudconvert Node SDK: installing $CC_NODE_SDK failed"
    failed=$((failed + 1))
  else
    echo "cloudconvert Node SDK SKIPPED: the npm registry cannot be reached"
  fi
else
  sdk_run "$work/cc-node.out" env CC_ROOT="$CC_ROOT" CC_KEY="$CC_KEY" WEBHOOK_SECRET="$WEBHOOK_SECRET" \
    SAMPLES="$PWD/fixtures/samples" NODE_SDK_DIR="$work/node" node emulator/sdk/cloudconvert_check.mjs
fi

auth=(-H "Authorization: Bearer $SECRET")
json() { "$py" -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }
magic() { head -c 3 "$1" | od -An -tx1 | tr -d ' \n'; }

# The current async route: upload, submit with a client JobId, poll until 200, download.
async_route() { # SUBMIT_PATH POLL_PREFIX JOB_ID EXTRA_QUERY
  local file_id job status
  file_id=$(curl -sf "${auth[@]}" -H "Content-Disposition: attachment; filename=\"photo.png\"" \
    --data-binary @fixtures/samples/photo.png "$CA_URL/upload" | json '["FileId"]') || return 1
  job=$(curl -sf "${auth[@]}" --data-urlencode "File=$file_id" --data-urlencode "JobId=$3" \
    --data-urlencode "StoreFile=true" "$CA_URL$1$4" | json '["JobId"]') || return 1
  [ "$job" = "$3" ] || return 1
  for _ in $(seq 100); do
    status=$(curl -s -o "$work/poll.json" -w '%{http_code}' "${auth[@]}" "$CA_URL$2/$job")
    [ "$status" = 200 ] && break
    [ "$status" = 202 ] || return 1
    sleep 0.1
  done
  [ "$status" = 200 ] || return 1
  curl -sf -o "$work/async.jpg" "$(json '["Files"][0]["Url"]' <"$work/poll.json")" || return 1
  [ "$(magic "$work/async.jpg")" = "ffd8ff" ] || return 1
  # Delete, then the job is gone.
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${auth[@]}" "$CA_URL$2/$job")" = 200 ] || return 1
  [ "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$CA_URL$2/$job")" = 404 ]
}
current_id=$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
legacy_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
async_route /async/convert/png/to/jpg /async/job "$current_id" ""
report "curl: current async route (/async/convert, /async/job)" $?
async_route /convert/png/to/jpg /job "$legacy_id" "?Async=true"
report "curl: legacy async route (?Async=true, /job)" $?

# Nothing the SDKs or curl sent so far broke a rule.
violations=$(curl -sf "$CA_URL/__emulator/state" | json '["violations"]')
[ "$violations" = "[]" ]
report "no violations by the SDKs or curl ($violations)" $?

# A JobId in the other route's format gets ConvertAPI's validation error, and is counted.
status=$(curl -s -o "$work/bad.json" -w '%{http_code}' "${auth[@]}" --data-urlencode "File=x" \
  --data-urlencode "JobId=$legacy_id" "$CA_URL/async/convert/png/to/jpg")
[ "$status" = 400 ] && [ "$(json '["Code"]' <"$work/bad.json")" = 4000 ] &&
  [ "$(curl -sf "$CA_URL/__emulator/state" | json '["violations"][0]["rule"]')" = job_id_format ]
report "curl: a JobId in the wrong format is refused and counted" $?
set -e

echo "sdk: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
