"""`triscope view --api-keys-from-env`: the HTML report served to a browser from this
machine's loopback, with the AI settings the environment holds handed to that page when it
asks (docs/ARCHITECTURE.md, "AI optimization").

A page opened from a file cannot read the environment, and writing a key into the page
would put it in a file. So, as Scalene's `view --api-keys-from-env` does, a small server
answers two addresses under a random token: the page, and `keys.json`, the settings
providers.page_settings() reads from the environment at that moment (never AWS credentials).
The page asks for them only when the user opens the AI settings or clicks an optimize
button, keeps them in its memory, and never stores an environment key in localStorage.
The token keeps other local users and other pages' scripts from the keys (they cannot guess
the address), and a request a browser marks as coming from another site is refused. It
serves until interrupted (Ctrl-C).
"""

import http.server
import json
import secrets
import sys

from triscope import providers
from triscope.reports import html


def serve(profile: dict, open_browser: bool) -> int:
    token = secrets.token_urlsafe(24)
    page = html.page(profile)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == f"/{token}/":
                return self.send(200, "text/html; charset=utf-8", page)
            if self.path == f"/{token}/keys.json":
                # Browsers say where a request comes from; only the page itself may ask.
                if self.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
                    return self.send(403, "text/plain", b"forbidden\n")
                body = json.dumps(providers.page_settings()).encode("utf-8")
                return self.send(200, "application/json", body)
            self.send(404, "text/plain", b"not found\n")

        def send(self, status, kind, body):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/{token}/"
    print(f"triscope: serving the report at {url} with the AI keys of the environment; "
          "Ctrl-C stops", file=sys.stderr, flush=True)
    if open_browser and not html.open_url(url):
        print(f"triscope: no browser to open it here; open {url} in one", file=sys.stderr,
              flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
