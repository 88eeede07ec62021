"""CloudConvert's official Python SDK (cloudconvert 2.1.0), unchanged, against the emulator: only
its `endpoint` and `sync_endpoint` point here.

Run by check.sh inside the private virtualenv. Prints `ok NAME` or `FAILED NAME: why` per check.
"""

import http.server
import json
import os
import sys
import tempfile
import threading
import traceback

import cloudconvert

CC_ROOT = os.environ["CC_ROOT"]  # the port's root: the SDK appends /v2/… itself
KEY = os.environ["CC_KEY"]
WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]
PHOTO = os.path.join(os.environ["SAMPLES"], "photo.png")
OUT = tempfile.mkdtemp(prefix="cc-sdk-check-")

results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
        except BaseException as exc:  # noqa: BLE001 - every failure is reported
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            results.append((name, detail))
        return fn

    return wrap


cloudconvert.configure(api_key=KEY, sandbox=False, endpoint=CC_ROOT, sync_endpoint=CC_ROOT + "/sync")

hooks = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        hooks.append((self.headers.get("CloudConvert-Signature"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
HOOK = f"http://127.0.0.1:{server.server_address[1]}/hook"

state = {}


@check("cloudconvert SDK: create a job graph, upload through the task's form, wait, download")
def _():
    job = cloudconvert.Job.create(payload={
        "tag": "sdk-check",
        "webhook_url": HOOK,
        "tasks": {
            "import-it": {"operation": "import/upload"},
            "convert-it": {"operation": "convert", "input": "import-it", "output_format": "jpg"},
            "export-it": {"operation": "export/url", "input": "convert-it"},
        },
    })
    assert job["status"] == "waiting", job
    upload = next(t for t in job["tasks"] if t["name"] == "import-it")
    assert cloudconvert.Task.upload(file_name=PHOTO, task=upload), "the upload was not answered 201"
    done = cloudconvert.Job.wait(id=job["id"])
    assert done["status"] == "finished", done
    export = next(t for t in done["tasks"] if t["name"] == "export-it")
    url = export["result"]["files"][0]["url"]
    path = os.path.join(OUT, export["result"]["files"][0]["filename"])
    cloudconvert.download(filename=path, url=url)
    with open(path, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff", "not a JPEG"
    state["job"] = job["id"]


@check("cloudconvert SDK: find a job and a task, list jobs by status")
def _():
    job = cloudconvert.Job.find(id=state["job"])
    assert job["id"] == state["job"] and len(job["tasks"]) == 3, job
    task = cloudconvert.Task.find(id=job["tasks"][0]["id"])
    assert task["job_id"] == state["job"], task
    listed = cloudconvert.Job.all({"filter[status]": "finished"})
    assert any(j["id"] == state["job"] for j in listed), listed


@check("cloudconvert SDK: the job's webhook verifies with the SDK's own verifier")
def _():
    import time
    for _ in range(100):
        if hooks:
            break
        time.sleep(0.05)
    assert hooks, "no webhook arrived"
    signature, body = hooks[0]
    assert json.loads(body)["event"] == "job.finished"
    assert cloudconvert.Webhook.verify(body.decode(), signature, WEBHOOK_SECRET)
    assert not cloudconvert.Webhook.verify(body.decode(), signature, "another-secret")


@check("cloudconvert SDK: delete the job, then it is gone")
def _():
    assert cloudconvert.Job.delete(id=state["job"])
    gone = cloudconvert.Job.find(id=state["job"])
    # The SDK returns the error body of a 404 instead of raising.
    assert "id" not in gone, gone


server.shutdown()
import shutil  # noqa: E402 - only the end needs it

shutil.rmtree(OUT, ignore_errors=True)
for name, failure in results:
    print(f"ok {name}" if failure is None else f"FAILED {name}: {failure}")
sys.exit(1 if any(f for _, f in results) else 0)
