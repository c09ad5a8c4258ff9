#!/usr/bin/env python3
"""Schema-driven API fuzzing of a running Convene (CI, and by hand).

Starts the provider simulator and Convene on free loopback ports with a temp data dir,
creates an API key (`convene api-key create`) and a calendar auth token, seeds one of each
resource (webhook endpoint, V2 calendar with synced events, Zoom app, Zoom credential with a
synced meeting) so path parameters hit real rows, then runs schemathesis from
`/api/schema/` with bounded examples and the conformance checks, and stops both servers by
their pids. Exits non-zero on any failure or any internal error in the server log.

Usage: fuzz_api.py TARGET_DIR [MAX_EXAMPLES] [SEED]   (SCHEMATHESIS=path to the CLI)
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TARGET = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target")
EXAMPLES = sys.argv[2] if len(sys.argv) > 2 else "40"
SEED = sys.argv[3] if len(sys.argv) > 3 else "14"
SCHEMATHESIS = os.environ.get("SCHEMATHESIS", "schemathesis")
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            text = res.read().decode()
            return res.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_up(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"fuzz_api: {url} did not come up")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    work = tempfile.mkdtemp(prefix="convene-fuzz-")
    sim = app = None
    try:
        sim_port, app_port = free_port(), free_port()
        s = f"http://127.0.0.1:{sim_port}"
        a = f"http://127.0.0.1:{app_port}"
        sim = subprocess.Popen(
            [os.path.join(TARGET, "debug", "convene-sim"), "--listen", f"127.0.0.1:{sim_port}"],
            stdout=open(os.path.join(work, "sim.log"), "w"), stderr=subprocess.STDOUT)
        wait_up(f"{s}/_sim/")
        env = dict(os.environ)
        env.update({
            "CONVENE_LISTEN": f"127.0.0.1:{app_port}",
            "CONVENE_PUBLIC_URL": a,
            "CONVENE_DATA_DIR": os.path.join(work, "data"),
            "CONVENE_LOG": "warn",
        })
        _, sim_info = call("GET", f"{s}/_sim/")
        env.update(sim_info["env"])
        binary = os.path.join(TARGET, "debug", "convene")
        subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        key = subprocess.run([binary, "api-key", "create", "--name", "fuzz"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        app = subprocess.Popen([binary, "serve"], env=env,
                               stdout=open(os.path.join(work, "app.log"), "w"),
                               stderr=subprocess.STDOUT)
        wait_up(f"{a}/healthz/")
        auth = {"Authorization": f"Token {key}"}

        # Seed one of each resource.
        _, tok = call("POST", f"{a}/api/v1/calendar/authenticate/", {"user_id": "fuzz-user"}, auth)
        cal_token = tok["token"]
        _, hook = call("POST", f"{a}/api/v1/webhook-endpoints/",
                       {"url": "http://127.0.0.1:9/fuzz-hook"}, auth)
        _, gen = call("POST", f"{s}/_sim/generate",
                      {"accounts": 1, "events_per_account": 6, "seed": 7})
        g = gen[0]
        status, cal = call("POST", f"{a}/api/v2/calendars/", {
            "platform": "google_calendar", "oauth_client_id": g["client_id"],
            "oauth_client_secret": g["client_secret"], "oauth_refresh_token": g["refresh_token"],
        }, auth)
        assert status == 201, cal
        event_id = None
        for _ in range(100):
            _, events = call("GET", f"{a}/api/v2/calendar-events/?calendar_id={cal['id']}", None, auth)
            if events["results"]:
                event_id = events["results"][0]["id"]
                break
            time.sleep(0.2)
        redirect = "https://app.example.test/zoom/"
        call("POST", f"{s}/_sim/clients", {"provider": "zoom", "client_id": "fuzz-zoom",
                                           "client_secret": "fuzz-zoom-secret",
                                           "redirect_uris": [redirect]})
        _, zapp = call("POST", f"{a}/api/v2/zoom-oauth-apps/", {
            "kind": "user_level", "client_id": "fuzz-zoom", "client_secret": "fuzz-zoom-secret",
            "webhook_secret": "fuzz-webhook-secret"}, auth)
        _, zuser = call("POST", f"{s}/_sim/zoom/users", {"email": "fuzz@zoom.test"})
        _, meeting = call("POST", f"{s}/_sim/zoom/users/{zuser['user_id']}/meetings",
                          {"topic": "Fuzz"})
        _, code = call("POST", f"{s}/_sim/codes", {
            "provider": "zoom", "client_id": "fuzz-zoom", "account_id": zuser["user_id"],
            "redirect_uri": redirect,
            "scopes": ["user:read:user", "meeting:read:list_meetings", "user:read:zak",
                       "user:read:token", "meeting:read:local_recording_token"]})
        status, cred = call("POST", f"{a}/api/v2/zoom-oauth-credentials/", {
            "oauth_app": zapp["id"],
            "authorization_code": {"code": code["code"], "redirect_uri": redirect}}, auth)
        assert status == 201, cred

        ids = {
            "/api/v1/webhook-endpoints/": hook["id"],
            "/api/v2/calendars/": cal["id"],
            "/api/v2/calendar-events/": event_id,
            "/api/v2/zoom-oauth-apps/": zapp["id"],
            "/api/v2/zoom-oauth-credentials/": cred["id"],
        }
        config = []
        for prefix, value in ids.items():
            if value:
                config.append(f'[[operations]]\ninclude-path-regex = "^{prefix}\\\\{{id\\\\}}/"\n'
                              f'parameters = {{ "path.id" = "{value}" }}\n')
        config.append('[[operations]]\ninclude-path-regex = "^/api/v2/zoom-meetings/"\n'
                      f'parameters = {{ "path.meeting_id" = {meeting["meeting"]["id"]} }}\n')
        config_path = os.path.join(work, "schemathesis.toml")
        with open(config_path, "w") as f:
            f.write("\n".join(config))

        cmd = [SCHEMATHESIS, "--config-file", config_path, "run", f"{a}/api/schema/",
               "--checks", CHECKS, "--max-examples", EXAMPLES, "--seed", SEED,
               "--workers", "2", "--phases", "examples,coverage,fuzzing",
               "--request-timeout", "30", "--suppress-health-check", "all", "--no-color",
               "-H", f"Authorization: Token {key}",
               "-H", f"x-recallcalendarauthtoken: {cal_token}"]
        print("fuzz_api: seeded", json.dumps(ids), "meeting", meeting["meeting"]["id"], flush=True)
        result = subprocess.run(cmd, cwd=work)  # its cache goes to the temp dir
        with open(os.path.join(work, "app.log")) as f:
            log = f.read()
        if "internal error" in log.lower() or "panicked" in log:
            print("fuzz_api: the server logged internal errors:\n" + log[-4000:], file=sys.stderr)
            return 1
        return result.returncode
    finally:
        stop(app)
        stop(sim)


if __name__ == "__main__":
    sys.exit(main())
