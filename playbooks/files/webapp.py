#!/usr/bin/env python3
"""webapp: an HTTP page naming the environment and the host, with a row read from PostgreSQL.

Usage:
  webapp.py CONFIG            serve (GET / the page, GET /health the health check)
  webapp.py --migrate CONFIG  create the table and its first row if missing;
                              prints "created" or "present" (idempotent, safe to run
                              from several hosts at once)

CONFIG is a file of `key = value` lines: listen, environment, db_host, db_port,
db_name, db_user, db_password. It holds the database password: keep it 0600.
"""

import html
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2  # Debian's python3-psycopg2

TABLE = "greetings"
CREATE = "CREATE TABLE greetings (id serial PRIMARY KEY, message text NOT NULL)"
INSERT = "INSERT INTO greetings (message) VALUES (%s)"
FIRST_ROW = "SELECT id, message FROM greetings ORDER BY id LIMIT 1"
# One transaction-scoped advisory lock, so two hosts migrating at once do not race.
MIGRATION_LOCK = 7_214_001


def read_config(path):
    config = {}
    with Path(path).open() as handle:
        for line in handle:
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                config[key.strip()] = value.strip()
    return config


def connect(config):
    return psycopg2.connect(
        host=config["db_host"],
        port=int(config["db_port"]),
        dbname=config["db_name"],
        user=config["db_user"],
        password=config["db_password"],
        connect_timeout=3,
        application_name=f"webapp@{socket.gethostname()}",
    )


def migrate(config):
    with connect(config) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cursor.execute("SELECT to_regclass(%s)", (TABLE,))
        if cursor.fetchone()[0] is not None:
            return "present"
        cursor.execute(CREATE)
        cursor.execute(INSERT, (f"hello from the {config['environment']} database",))
        return "created"


class Database:
    """One connection shared by the server's threads, opened again after a failure."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.connection = None

    def first_row(self):
        with self.lock:
            try:
                if self.connection is None or self.connection.closed:
                    self.connection = connect(self.config)
                    self.connection.autocommit = True
                with self.connection.cursor() as cursor:
                    cursor.execute(FIRST_ROW)
                    return cursor.fetchone()
            except psycopg2.Error:
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                raise


def handler_for(config):
    host = socket.gethostname()
    database = Database(config)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/health":
                self.answer(200, b"ok\n", "text/plain")
                return
            try:
                row = database.first_row()
                db = f"row {row[0]} from PostgreSQL: {html.escape(row[1])}" if row else "no row"
                status = 200
            except psycopg2.Error as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else "error"
                db = f"database unreachable: {html.escape(first_line)}"
                status = 503
            page = (
                f"<h1>{host}</h1>\n"
                f"<p>environment: {html.escape(config['environment'])}</p>\n"
                f"<p>host: {host}</p>\n"
                f"<p>{db}</p>\n"
            ).encode()
            self.answer(status, page, "text/html; charset=utf-8")

        def answer(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def main(argv):
    if argv[:1] == ["--migrate"]:
        print(migrate(read_config(argv[1])))
        return 0
    config = read_config(argv[0])
    address, _, port = config["listen"].rpartition(":")
    ThreadingHTTPServer((address, int(port)), handler_for(config)).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
