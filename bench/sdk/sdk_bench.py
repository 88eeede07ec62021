"""The vendors' official Python SDKs doing the harness's job: convert a file and save the result.

Run by `cargo bench -p multiconvert-bench --bench sdk` inside the private virtualenv it makes.
Arguments: VENDOR (oc | ca) BASE_URL CREDENTIAL JOBS CONCURRENCY INPUT OUT_DIR. Runs JOBS
conversions on a thread pool of CONCURRENCY threads (the way a Python user runs them in
parallel) and prints one JSON line: per job its id (online-convert) and when it was submitted,
when the client noticed the result and when the file was saved, in Unix milliseconds. JOBS=0
only imports the SDK: the harness subtracts that start-up cost.
"""

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

VENDOR, BASE, CREDENTIAL, JOBS, CONCURRENCY, INPUT, OUT = sys.argv[1:8]
JOBS = int(JOBS)
CONCURRENCY = int(CONCURRENCY)


def now_ms():
    return int(time.time() * 1000)


if VENDOR == "oc":
    import api2convert

    # The SDK's own defaults (poll 1 s ×1.5 → 5 s), a thread-safe client shared by the pool.
    client = api2convert.Api2Convert(CREDENTIAL, base_url=BASE)

    def one(n):
        out = os.path.join(OUT, str(n))
        os.makedirs(out, exist_ok=True)
        submitted = now_ms()
        job = client.convert_async(INPUT, "jpg")
        done = client.jobs.wait(job.id)
        noticed = now_ms()
        client.download(done.output[0]).save(out)
        return {"id": job.id, "submitted_ms": submitted, "noticed_ms": noticed, "done_ms": now_ms()}

else:
    import convertapi

    convertapi.base_uri = BASE.rstrip("/") + "/"
    convertapi.api_credentials = CREDENTIAL

    def one(n):
        out = os.path.join(OUT, str(n))
        os.makedirs(out, exist_ok=True)
        submitted = now_ms()
        # The SDK has no async: the convert request is held until the result is ready.
        result = convertapi.convert("jpg", {"File": INPUT}, from_format="png")
        noticed = now_ms()
        result.save_files(out)
        return {"id": None, "submitted_ms": submitted, "noticed_ms": noticed, "done_ms": now_ms()}


def guarded(n):
    try:
        return one(n)
    # BaseException: convertapi's ApiError derives from it.
    except BaseException as exc:  # noqa: BLE001 - counted and reported, never fatal
        return {"error": f"{type(exc).__name__}: {exc}"}


records = []
if JOBS:
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        records = list(pool.map(guarded, range(JOBS)))
errors = [r["error"] for r in records if "error" in r]
print(json.dumps({
    "jobs": [r for r in records if "error" not in r],
    "errors": len(errors),
    "first_error": errors[0] if errors else None,
}))
