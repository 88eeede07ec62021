"""One warm LibreOffice for multiconvert's office provider, driven over UNO.

Run by the provider with Debian's /usr/bin/python3 (python3-uno):

    python3 worker.py SOFFICE PROFILE_DIR PIPE_NAME

It starts `SOFFICE --accept=pipe,name=PIPE_NAME;urp;` on its own profile (a fresh profile makes
soffice exit 81 once; it is started again), connects, prints `{"ready": true}` and then converts
one document per line of standard input, `{"input": PATH, "output": PATH, "filter": NAME}`,
answering one line each: `{"ok": true}` or `{"error": TEXT, "code": CODE}`. Documents load hidden,
read-only, with macros never executed and links never updated. The provider owns the deadline:
it kills this process's whole group (soffice included) when a conversion outlasts it.
"""

import json
import os
import subprocess
import sys
import time


def answer(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


try:
    import uno
    from com.sun.star.beans import PropertyValue
    from com.sun.star.connection import NoConnectException
    from com.sun.star.lang import DisposedException
except ImportError as exc:
    # This Python cannot drive LibreOffice: the provider converts per call instead.
    answer(unavailable="python3-uno is not importable here: %s" % exc)
    sys.exit(3)


def crashed(why):
    answer(error="LibreOffice crashed on the document: " + why[:400], code="crashed")


def props(**values):
    out = []
    for name, value in values.items():
        p = PropertyValue()
        p.Name = name
        p.Value = value
        out.append(p)
    return tuple(out)


def start(soffice, profile, pipe):
    args = [
        soffice,
        "--headless",
        "--invisible",
        "--nocrashreport",
        "--nodefault",
        "--nologo",
        "--norestore",
        "--nolockcheck",
        "--nofirststartwizard",
        "-env:UserInstallation=" + uno.systemPathToFileUrl(profile),
        "--accept=pipe,name=%s;urp;" % pipe,
    ]
    # stdin closed, output discarded: soffice must never wait on the provider's pipes.
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def connect(soffice, profile, pipe, limit=60.0):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local)
    office = start(soffice, profile, pipe)
    restarts = 0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        # A fresh profile ends the first start with 81 ("restart"): start it again. Any other
        # end is a failure (a memory bound too tight to map its libraries, a broken install).
        if office.poll() is not None:
            if office.returncode != 81 or restarts >= 3:
                raise RuntimeError("soffice exited with status %s before accepting" % office.returncode)
            restarts += 1
            office = start(soffice, profile, pipe)
        try:
            ctx = resolver.resolve(
                "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
            desktop = ctx.ServiceManager.createInstanceWithContext(
                "com.sun.star.frame.Desktop", ctx)
            return office, desktop
        except NoConnectException:
            time.sleep(0.05)
    raise RuntimeError("LibreOffice did not accept a connection within %ss" % limit)


def convert(desktop, job):
    url = uno.systemPathToFileUrl(job["input"])
    document = desktop.loadComponentFromURL(
        url, "_blank", 0,
        props(Hidden=True, ReadOnly=True, MacroExecutionMode=0, UpdateDocMode=0))
    if document is None:
        return {"error": "LibreOffice could not load the document", "code": "load"}
    try:
        document.storeToURL(uno.systemPathToFileUrl(job["output"]),
                            props(FilterName=job["filter"], Overwrite=True))
    finally:
        document.close(True)
    return {"ok": True}


def main():
    soffice, profile, pipe = sys.argv[1:4]
    os.makedirs(profile, exist_ok=True)
    try:
        office, desktop = connect(soffice, profile, pipe)
    except Exception as exc:  # noqa: BLE001 - reported, then this worker ends
        answer(failed=str(exc)[:500])
        sys.exit(4)
    answer(ready=True, pid=office.pid)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        # LibreOffice died while idle (a crash, a kill): this job never reached it, so the
        # provider may send it to a fresh worker. This one ends.
        if office.poll() is not None:
            answer(error="LibreOffice was no longer running", code="dead")
            break
        try:
            reply = convert(desktop, json.loads(line))
        except DisposedException as exc:
            # The bridge to LibreOffice is gone: it died (or is dying, in its crash handler) on
            # this document, and this worker cannot go on with it either way.
            try:
                office.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            crashed(str(exc.Message))
            break
        except Exception as exc:  # noqa: BLE001 - every failure is the job's answer
            text = str(getattr(exc, "Message", "") or exc) or type(exc).__name__
            reply = {"error": text[:500], "code": "uno"}
        if office.poll() is not None:
            # It died on this document: the job fails, this worker ends and is replaced.
            crashed(reply.get("error", ""))
            break
        answer(**reply)
    # The provider closed the pipe (or died): LibreOffice goes with this worker, never orphaned.
    try:
        desktop.terminate()
        office.wait(timeout=5)
    except Exception:  # noqa: BLE001 - it is going away either way
        pass
    if os.getpgid(0) == os.getpid():  # the group is this worker's own
        os.killpg(os.getpgid(0), 9)


if __name__ == "__main__":
    main()
