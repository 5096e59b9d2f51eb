"""An IPN peer that shares no code with `bank`, for tests/it/independent_ipn.rs.

Two roles, chosen by the first argument:

* ``listener``: a merchant's IPN listener built on django-paypal (MIT, from PyPI, installed
  in .venv by .ci/run), its stock ``paypal.standard.ipn`` view unchanged. Its postback
  endpoint is pointed at the sandbox given as the second argument. The sandbox sends IPNs to
  ``/ipn/``; ``GET /received`` lists what django-paypal stored (its ``flag`` is set when the
  postback did not say VERIFIED); ``GET /done`` stops it.
* ``paypal``: PayPal's side of the protocol, written from PayPal's IPN documentation: it
  posts IPNs to a listener and answers the postback at ``/cgi-bin/webscr`` with
  ``VERIFIED`` only when it is byte for byte ``cmd=_notify-validate&`` followed by the body
  it sent.

Both print one JSON line when ready, then talk JSON lines on stdin/stdout. Every loop is
bounded by the deadline given on the command line.
"""

import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.simple_server import WSGIRequestHandler, make_server


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def listener(verify_url, deadline):
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="independent-ipn-peer-" + "x" * 40,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["django.contrib.contenttypes", "paypal.standard.ipn"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.core.management import call_command
    from django.http import JsonResponse
    from django.urls import include, path

    import paypal.standard.models as standard

    # The one change: where the postback goes (django-paypal hard-codes PayPal's hosts).
    standard.SANDBOX_POSTBACK_ENDPOINT = verify_url
    standard.POSTBACK_ENDPOINT = verify_url
    from paypal.standard.ipn.models import PayPalIPN

    state = {"done": False}

    def received(_request):
        rows = [
            {
                "flag": ipn.flag,
                "flag_info": ipn.flag_info,
                "txn_type": ipn.txn_type,
                "txn_id": ipn.txn_id,
                "payment_status": ipn.payment_status,
                "mc_gross": str(ipn.mc_gross),
                "mc_currency": ipn.mc_currency,
                "invoice": ipn.invoice,
                "custom": ipn.custom,
                "business": ipn.business,
                "item_name": ipn.item_name,
                "test_ipn": ipn.test_ipn,
                "response": ipn.response,
            }
            for ipn in PayPalIPN.objects.order_by("id")
        ]
        return JsonResponse(rows, safe=False)

    def done(_request):
        state["done"] = True
        return JsonResponse({"done": True})

    global urlpatterns
    urlpatterns = [
        path("ipn/", include("paypal.standard.ipn.urls")),
        path("received", received),
        path("done", done),
    ]
    call_command("migrate", verbosity=0, interactive=False)

    from django.core.wsgi import get_wsgi_application

    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    httpd.timeout = 0.2
    say({"port": httpd.server_port})
    while not state["done"] and time.time() < deadline:
        httpd.handle_request()


def paypal(deadline):
    sent = {}
    postbacks = []
    lock = threading.Lock()

    class Webscr(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                expected = sent.get("body")
                forged = sent.get("forged", False)
                exact = expected is not None and body == b"cmd=_notify-validate&" + expected
                verdict = b"VERIFIED" if exact and not forged else b"INVALID"
                postbacks.append({"exact": exact, "answer": verdict.decode()})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(verdict)))
            self.end_headers()
            self.wfile.write(verdict)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Webscr)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say({"verify_url": "http://127.0.0.1:%d/cgi-bin/webscr" % server.server_port})

    # One command per line: {"notify_url", "fields": [[k, v], ...], "forged": bool}.
    for line in sys.stdin:
        if time.time() > deadline:
            break
        command = json.loads(line)
        if command.get("quit"):
            break
        fields = [(k, v) for k, v in command["fields"]]
        charset = dict(fields).get("charset", "windows-1252")
        body = urllib.parse.urlencode(fields, encoding=charset).encode("ascii")
        with lock:
            sent["body"] = body
            sent["forged"] = command.get("forged", False)
            before = len(postbacks)
        request = urllib.request.Request(
            command["notify_url"],
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, reply = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, reply = e.code, e.read()
        with lock:
            seen = postbacks[before:]
        say({"status": status, "reply": reply.decode("utf-8", "replace"), "postbacks": seen})
    server.shutdown()


def main():
    role = sys.argv[1]
    deadline = time.time() + float(sys.argv[-1])
    if role == "listener":
        listener(sys.argv[2], deadline)
    elif role == "paypal":
        paypal(deadline)
    else:
        raise SystemExit("unknown role " + role)


if __name__ == "__main__":
    main()
