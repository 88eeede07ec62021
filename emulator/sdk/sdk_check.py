"""The vendors' official Python SDKs, unchanged, against the emulator (base URL override only).

Run by check.sh inside a private virtualenv holding the pinned SDKs. Prints `ok NAME` or
`FAILED NAME: why` per check and exits non-zero when any failed.
"""

import http.server
import json
import os
import sys
import tempfile
import threading
import traceback

import api2convert
import convertapi
from api2convert import errors as a2c_errors
from api2convert.webhook import WebhookVerifier

OC_URL = os.environ["OC_URL"]
CA_URL = os.environ["CA_URL"]
KEY = os.environ["KEY"]
SECRET = os.environ["SECRET"]
WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]
SAMPLES = os.environ["SAMPLES"]
PHOTO = os.path.join(SAMPLES, "photo.png")
OUT = tempfile.mkdtemp(prefix="sdk-check-")

JPEG = b"\xff\xd8\xff"
GIF = b"GIF8"
PNG = b"\x89PNG"

results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
        # BaseException: convertapi's ApiError derives from it, not from Exception.
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            results.append((name, detail))
        return fn

    return wrap


def starts_with(path, magic):
    with open(path, "rb") as f:
        head = f.read(len(magic))
    assert head == magic, f"{path} starts with {head!r}, not {magic!r}"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_samples():
    """The samples over loopback HTTP, for remote inputs."""
    handler = lambda *a, **k: Quiet(*a, directory=SAMPLES, **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


SAMPLES_URL = serve_samples()


def client(key=KEY):
    return api2convert.Api2Convert(key, base_url=OC_URL, poll_interval=0.5, poll_timeout=60)


# --- api2convert (online-convert) -------------------------------------------------------------


@check("api2convert: upload, convert, download")
def _():
    target = os.path.join(OUT, "a2c.jpg")
    client().convert(PHOTO, "jpg").save(target)
    starts_with(target, JPEG)


@check("api2convert: remote input")
def _():
    target = os.path.join(OUT, "a2c-remote.gif")
    client().convert(f"{SAMPLES_URL}/photo.png", "gif").save(target)
    starts_with(target, GIF)


@check("api2convert: a wrong key is an AuthenticationError")
def _():
    try:
        client("not-the-key").convert(PHOTO, "jpg")
    except a2c_errors.AuthenticationError:
        return
    raise AssertionError("no AuthenticationError")


@check("api2convert: a failed conversion is a ConversionFailedError")
def _():
    corrupt = os.path.join(SAMPLES, "corrupt.png")
    try:
        client().convert(corrupt, "jpg")
    except a2c_errors.ConversionFailedError:
        return
    raise AssertionError("no ConversionFailedError")


@check("api2convert: jobs are listed by status")
def _():
    jobs = client().jobs.list(status="completed")
    assert jobs, "no completed job listed"
    assert all(j.status.code == "completed" for j in jobs)


@check("api2convert: signed callbacks verify with the SDK's verifier")
def _():
    received = []
    done = threading.Event()

    class Hook(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((body, self.headers.get("X-Oc-Signature")))
            self.send_response(200)
            self.end_headers()
            if json.loads(body)["status"]["code"] in ("completed", "failed"):
                done.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    job = client().convert_async(PHOTO, "png", callback=url)
    assert done.wait(30), "no terminal callback arrived"
    server.shutdown()
    verifier = WebhookVerifier()
    for body, signature in received:
        event = verifier.construct_event(body, signature, WEBHOOK_SECRET)
        assert event is not None
    final = json.loads(received[-1][0])
    assert final["id"] == job.id and final["status"]["code"] == "completed", final["status"]
    try:
        verifier.construct_event(received[-1][0] + b" ", received[-1][1], WEBHOOK_SECRET)
    except a2c_errors.SignatureVerificationError:
        return
    raise AssertionError("a tampered body verified")


# --- convertapi ---------------------------------------------------------------------------------

convertapi.base_uri = CA_URL.rstrip("/") + "/"
convertapi.api_credentials = SECRET


@check("convertapi: upload, convert, download")
def _():
    result = convertapi.convert("jpg", {"File": PHOTO}, from_format="png")
    saved = result.file.save(os.path.join(OUT, "ca.jpg"))
    starts_with(saved, JPEG)
    assert result.conversion_cost == 1


@check("convertapi: remote input")
def _():
    result = convertapi.convert("gif", {"File": f"{SAMPLES_URL}/photo.png"}, from_format="png")
    saved = result.file.save(os.path.join(OUT, "ca-remote.gif"))
    starts_with(saved, GIF)


@check("convertapi: a wrong secret is ApiError 4010")
def _():
    convertapi.api_credentials = "not-the-secret"
    try:
        convertapi.convert("jpg", {"File": PHOTO}, from_format="png")
    except convertapi.ApiError as exc:
        assert exc.code == 4010, exc.code
        return
    finally:
        convertapi.api_credentials = SECRET
    raise AssertionError("no ApiError")


@check("convertapi: user info")
def _():
    info = convertapi.user()
    assert info["Active"] is True, info


for name, failure in results:
    print(f"ok {name}" if failure is None else f"FAILED {name}: {failure}")
sys.exit(1 if any(f is not None for _, f in results) else 0)
