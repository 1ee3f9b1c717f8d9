"""A client nobody on the Hanami team wrote: the official python-socketio client.

Logs in over HTTP, attaches to a cluster over Socket.IO, sends requests and a training
sample, and checks the answers against values the test computed with the engine.
Arguments come as JSON on stdin; prints one JSON line with what it saw; exits non-zero on
any mismatch.
"""
import json
import struct
import sys

import requests
import socketio


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def main():
    args = json.load(sys.stdin)
    url = args["url"]
    login = requests.post(url + "/v1/auth/login", json={"name": args["user"], "passphrase": args["passphrase"]}, timeout=10)
    if login.status_code != 200:
        fail("login failed: %d %s" % (login.status_code, login.text))
    token = login.json()["token"]

    client = socketio.SimpleClient()
    client.connect(url, auth={"token": token}, namespace="/v1/io", transports=["websocket"], wait_timeout=10)
    try:
        def call(event, payload):
            reply = client.call(event, payload, timeout=10) if payload is not None else client.call(event, timeout=10)
            return reply

        attached = call("attach", {"projectId": args["projectId"], "clusterId": args["clusterId"]})
        if not attached.get("ok"):
            fail("attach refused: %r" % (attached,))

        answers = []
        for values in args["inputs"]:
            payload = struct.pack("<%df" % len(values), *values)
            reply = call("request", payload)
            if not reply.get("ok"):
                fail("request refused: %r" % (reply,))
            outputs = list(struct.unpack("<%df" % (len(reply["outputs"]) // 4), reply["outputs"]))
            answers.append({"argmax": reply["argmax"], "outputs": outputs})

        for got, want in zip(answers, args["expected"]):
            if got["argmax"] != want["argmax"]:
                fail("argmax %r, expected %r" % (got["argmax"], want["argmax"]))
            if any(abs(a - b) > 1e-6 for a, b in zip(got["outputs"], want["outputs"])):
                fail("outputs differ from the engine's")

        bad = call("request", b"\x00\x01\x02")
        if bad.get("ok") or bad["error"]["code"] != "bad-payload":
            fail("a broken payload should be refused with bad-payload, got %r" % (bad,))

        trained = call("train", {"input": args["inputs"][0], "label": args["expected"][0]["argmax"]})
        if not trained.get("ok"):
            fail("train refused: %r" % (trained,))

        print(json.dumps({"ok": True, "attached": attached["cluster"]["id"], "answers": len(answers), "argmax": [a["argmax"] for a in answers]}))
    finally:
        client.disconnect()


main()
