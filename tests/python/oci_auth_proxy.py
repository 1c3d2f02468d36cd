#!/usr/bin/env python3
"""A token-auth front for the reference registry (`docker-registry`, Distribution 2.8), which
has no authentication without TLS: it answers `/v2/` requests the way the container contract
of forge-packages says (and Forgejo does), and forwards the authorised ones to the registry.
It lets the client scripts' credential paths (skopeo --creds, oras-py's token dance) be tried
against a real registry, and records what the clients send, one JSON object per line (--log).

- No Authorization header: 401 with
  `WWW-Authenticate: Bearer realm="http://{host}/v2/token",service="container_registry",scope="*"`.
- `GET /v2/token` with Basic user:password: 200 {"token", "access_token", "expires_in",
  "issued_at"}; without credentials an anonymous token; wrong credentials 401.
- `Authorization: Bearer <token>` or Basic on any other /v2 route: forwarded when allowed.
  Anonymous (token) callers may pull unless --private, and never push (401).

Standard library only. Not a registry and not secure: loopback tests only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
PIECE = 1 << 20
# Request headers worth keeping in the log (never credentials).
LOGGED = ("Content-Type", "Content-Range", "Content-Length", "Transfer-Encoding", "Accept")


class State:
    def __init__(self, upstream: str, users: dict[str, str], private: bool, log_path: str | None):
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.users = users
        self.private = private
        self.tokens: dict[str, str | None] = {}
        self.lock = threading.Lock()
        self.log = open(log_path, "a", buffering=1) if log_path else None

    def record(self, entry: dict) -> None:
        if self.log is None:
            return
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oci-auth-proxy"
    state: State

    def log_message(self, format, *args):  # the JSON log replaces the default one
        pass

    # --- answers of its own ------------------------------------------------------------------

    def _json(self, status: int, doc: dict, extra: dict | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _unauthorized(self, message: str) -> None:
        host = self.headers.get("Host", "127.0.0.1")
        challenge = (
            f'Bearer realm="http://{host}/v2/token",service="container_registry",scope="*"'
        )
        self._json(
            401,
            {"errors": [{"code": "UNAUTHORIZED", "message": message, "detail": None}]},
            {"WWW-Authenticate": challenge},
        )

    def _basic_user(self, value: str) -> tuple[bool, str | None]:
        """(valid, user) of a Basic header value."""
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except Exception:
            return False, None
        return self.state.users.get(user) == password, user

    # --- the request -------------------------------------------------------------------------

    def _handle(self) -> None:
        self._drained = False
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "user_agent": self.headers.get("User-Agent"),
        }
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        entry["auth"] = scheme or None
        entry["headers"] = {
            h: ", ".join(self.headers.get_all(h)) for h in LOGGED if h in self.headers
        }
        path = urlsplit(self.path).path
        try:
            if path == "/v2/token":
                entry["query"] = parse_qs(urlsplit(self.path).query)
                entry["status"] = self._token(scheme, value)
            else:
                entry["status"] = self._forward(scheme, value)
        finally:
            self.state.record(entry)

    def _token(self, scheme: str, value: str) -> int:
        self._drain()
        user = None
        if scheme.lower() == "basic":
            valid, user = self._basic_user(value)
            if not valid:
                self._unauthorized("wrong credentials")
                return 401
        elif scheme:
            self._unauthorized("the token endpoint takes Basic credentials")
            return 401
        token = secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens[token] = user
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._json(
            200,
            {"token": token, "access_token": token, "expires_in": 300, "issued_at": now},
        )
        return 200

    def _forward(self, scheme: str, value: str) -> int:
        if not scheme:
            self._drain()
            self._unauthorized("authentication required")
            return 401
        user = None
        if scheme.lower() == "bearer":
            with self.state.lock:
                if value not in self.state.tokens:
                    self._drain()
                    self._unauthorized("unknown token")
                    return 401
                user = self.state.tokens[value]
        elif scheme.lower() == "basic":
            valid, user = self._basic_user(value)
            if not valid:
                self._drain()
                self._unauthorized("wrong credentials")
                return 401
        else:
            self._drain()
            self._unauthorized(f"unsupported scheme {scheme}")
            return 401
        reading = self.command in ("GET", "HEAD")
        if user is None and (not reading or self.state.private):
            self._drain()
            self._unauthorized("anonymous access denied")
            return 401
        return self._proxy()

    def _body(self):
        """The request body as pieces, whatever its framing."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(PIECE, left))
                    if not piece:
                        raise ConnectionError("client went away")
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                piece = self.rfile.read(min(PIECE, left))
                if not piece:
                    raise ConnectionError("client went away")
                left -= len(piece)
                yield piece

    def _drain(self) -> None:
        if not self._drained:
            for _ in self._body():
                pass
            self._drained = True

    def _proxy(self) -> int:
        conn = http.client.HTTPConnection(
            self.state.upstream_host, self.state.upstream_port, timeout=600
        )
        # A list, not a dict: clients repeat headers (skopeo sends one Accept line per
        # manifest type) and every line must reach the registry.
        headers = [
            (k, v)
            for k, v in self.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"
        ]
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        has_body = chunked or int(self.headers.get("Content-Length") or 0) > 0
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        if has_body:
            for piece in self._body():
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                conn.send(b"0\r\n\r\n")
        self._drained = True
        resp = conn.getresponse()
        length = resp.getheader("Content-Length")
        body = None
        if length is None and self.command != "HEAD":
            body = resp.read()  # small (JSON) answers only come without a length
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and not (body is not None and k.lower() == "content-length"):
                self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            if body is not None:
                self.wfile.write(body)
            else:
                while piece := resp.read(PIECE):
                    self.wfile.write(piece)
        conn.close()
        return resp.status

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (127.0.0.1:0)")
    parser.add_argument("--upstream", required=True, help="the registry, http://HOST:PORT")
    parser.add_argument(
        "--user", action="append", default=[], help="USER:PASSWORD allowed in (repeatable)"
    )
    parser.add_argument("--private", action="store_true", help="anonymous callers may not pull")
    parser.add_argument("--log", help="append one JSON line per request to this file")
    parser.add_argument(
        "--port-file", help="write the port listened on to this file once listening"
    )
    args = parser.parse_args()
    users = dict(u.split(":", 1) for u in args.user)
    host, _, port = args.listen.rpartition(":")
    Handler.state = State(args.upstream, users, args.private, args.log)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
