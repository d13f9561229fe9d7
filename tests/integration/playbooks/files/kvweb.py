#!/usr/bin/env python3
"""webapp: an HTTP page naming the environment and host, with a live answer from kvdb.

Configuration: a file of `key = value` lines (listen, environment, db_url), given as argv[1].
"""

import json
import socket
import sys
import urllib.request
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


def handler_for(config):
    host = socket.gethostname()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = f"{config['db_url']}/hits/{host}"
            try:
                with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - http only
                    answer = json.load(response)
                db = f"db {answer['server']} says hit {answer['value']} for {answer['key']}"
                status = 200
            except (OSError, ValueError, KeyError) as error:
                db = f"db unreachable at {config['db_url']}: {error}"
                status = 503
            page = (
                f"<h1>{host}</h1>\n"
                f"<p>environment: {config['environment']}</p>\n"
                f"<p>host: {host}</p>\n"
                f"<p>{db}</p>\n"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            """No access log on stderr: the service is quiet."""

    return Handler


def main():
    config = read_config(sys.argv[1])
    address, _, port = config["listen"].rpartition(":")
    ThreadingHTTPServer((address, int(port)), handler_for(config)).serve_forever()


if __name__ == "__main__":
    main()
