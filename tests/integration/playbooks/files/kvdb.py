#!/usr/bin/env python3
"""kvdb: a small key-value service that keeps its data on disk.

GET /            -> {"server": HOST, "keys": N}
GET /hits/NAME   -> increments counter NAME, writes it to disk, returns {"key", "value", "server"}
Configuration: a file of `key = value` lines (listen, data_dir), given as argv[1].
"""

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def read_config(path):
    config = {}
    with Path(path).open() as handle:
        for line in handle:
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                config[key.strip()] = value.strip()
    return config


class Store:
    def __init__(self, folder):
        self.path = Path(folder) / "data.json"
        self.lock = threading.Lock()
        try:
            with self.path.open() as handle:
                self.data = json.load(handle)
        except FileNotFoundError:
            self.data = {}

    def increment(self, key):
        with self.lock:
            self.data[key] = int(self.data.get(key, 0)) + 1
            temporary = self.path.with_suffix(".tmp")
            with temporary.open("w") as handle:
                json.dump(self.data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(self.path)
            return self.data[key]


def handler_for(store):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/hits/"):
                key = self.path[len("/hits/") :] or "anonymous"
                body = {"key": key, "value": store.increment(key), "server": socket.gethostname()}
            else:
                body = {"server": socket.gethostname(), "keys": len(store.data)}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            """No access log on stderr: the service is quiet."""

    return Handler


def main():
    config = read_config(sys.argv[1])
    host, _, port = config["listen"].rpartition(":")
    Path(config["data_dir"]).mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, int(port)), handler_for(Store(config["data_dir"])))
    server.serve_forever()


if __name__ == "__main__":
    main()
