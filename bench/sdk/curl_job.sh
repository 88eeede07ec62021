#!/usr/bin/env bash
# One conversion with curl alone, the calls the crate makes (no SDK): what a shell user would
# write. Run by `cargo bench -p multiconvert-bench --bench sdk`.
# Usage: curl_job.sh VENDOR(oc|ca) BASE_URL CREDENTIAL INPUT OUT_DIR
# Prints one JSON line: when the job was submitted, when its result was noticed, when it was
# saved (Unix ms). Polls online-convert on the crate's plain schedule (un-jittered). JSON is
# read with sed (no jq on a fresh machine), which suffices for the emulator's replies.
set -euo pipefail
vendor=$1 base=$2 cred=$3 input=$4 out=$5
now() { date +%s%3N; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
mkdir -p "$out"
submitted=$(now)
if [ "$vendor" = oc ]; then
  key=(-H "x-oc-api-key: $cred")
  job=$(curl -sSf "${key[@]}" -H 'content-type: application/json' \
    -d '{"process":false,"conversion":[{"target":"jpg"}]}' "$base/jobs")
  id=$(sed -n 's/.*"id":"\([^"]*\)","input".*/\1/p' <<<"$job")
  token=$(field token <<<"$job")
  server=$(field server <<<"$job")
  curl -sSf -o /dev/null -H "x-oc-token: $token" -F "file=@$input" "$server/upload-file/$id"
  curl -sSf -o /dev/null "${key[@]}" -H 'content-type: application/json' -X PATCH \
    -d '{"process":true}' "$base/jobs/$id"
  schedule=(1 1.5 2.25 3.375 5)
  round=0
  while :; do
    job=$(curl -sSf "${key[@]}" "$base/jobs/$id")
    case $job in
      *'"status":{"code":"completed"'*) break ;;
      *'"status":{"code":"failed"'*) echo "the job failed" >&2; exit 1 ;;
    esac
    sleep "${schedule[$((round < 4 ? round : 4))]}"
    round=$((round + 1))
  done
  noticed=$(now)
  uri=$(grep -o '"uri":"[^"]*"' <<<"$job" | head -n 1 | sed 's/"uri":"\(.*\)"/\1/')
else
  auth=(-H "Authorization: Bearer $cred")
  file_id=$(curl -sSf "${auth[@]}" -H 'content-type: application/octet-stream' \
    -H "content-disposition: attachment; filename=\"$(basename "$input")\"" \
    --data-binary "@$input" "$base/upload" | field FileId)
  # The crate's default for a short job: one convert held open until the result (semi-async,
  # with a client UUID JobId).
  id=$(cat /proc/sys/kernel/random/uuid)
  curl -sSf -o "$out/poll.json" "${auth[@]}" --data-urlencode "File=$file_id" \
    --data-urlencode "JobId=$id" --data-urlencode "StoreFile=true" --data-urlencode "Timeout=900" \
    "$base/convert/png/to/jpg"
  noticed=$(now)
  uri=$(field Url <"$out/poll.json")
  rm -f "$out/poll.json"
fi
curl -sSf -o "$out/result.jpg" "$uri"
echo "{\"id\":\"$id\",\"submitted_ms\":$submitted,\"noticed_ms\":$noticed,\"done_ms\":$(now)}"
