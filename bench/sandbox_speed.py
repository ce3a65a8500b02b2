"""Speed of the Brevo sandbox: import 1M contacts in 8 MB ``fileBody`` chunks, then export them.

Usage: ``python bench/sandbox_speed.py [--contacts 1000000] [--chunk-mb 8]``. Starts the sandbox
as a separate process (``python -m etl.sandbox``, in memory) on a free port, drives it
over HTTP with plain ``requests`` and prints the seconds each phase took. Targets (issue 2):
the import under 120 s and the export under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
HEADER = "EMAIL;FIRSTNAME;LASTNAME;BIRTHDAY;SCORE;VIP;CITY"
CITIES = ("Paris", "Lyon", "Marseille", "Lille", "Nantes", "Rennes", "Brest", "Nice")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_chunks(total: int, chunk_bytes: int) -> list[str]:
    """``;`` CSV bodies of at most ``chunk_bytes`` each, every one with the header."""
    chunks: list[str] = []
    lines: list[str] = [HEADER]
    size = len(HEADER) + 1
    for i in range(total):
        line = (
            f"contact{i:07d}@example-mail.com;First{i % 5000};Last{i % 7919};"
            f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d};{i % 1000}.{i % 100:02d};"
            f"{'true' if i % 3 else 'false'};{CITIES[i % len(CITIES)]}"
        )
        if size + len(line) + 1 > chunk_bytes:
            chunks.append("\n".join(lines))
            lines, size = [HEADER], len(HEADER) + 1
        lines.append(line)
        size += len(line) + 1
    chunks.append("\n".join(lines))
    return chunks


def wait_for(
    session: requests.Session, url: str, process_id: int, *, poll_s: float = 0.2
) -> dict[str, object]:
    """Poll a sandbox process until it completes (SystemExit if it fails)."""
    while True:
        resp = session.get(f"{url}/processes/{process_id}", timeout=60)
        resp.raise_for_status()
        proc = resp.json()
        if proc["status"] in ("completed", "failed"):
            if proc["status"] == "failed":
                raise SystemExit(f"process {process_id} failed: {proc}")
            return dict(proc)
        time.sleep(poll_s)


def import_chunks(
    session: requests.Session, url: str, chunks: list[str], list_id: int, *, poll_s: float = 0.2
) -> None:
    """Submit every chunk as fileBody, then wait for every import process to complete."""
    ids = []
    for chunk in chunks:
        resp = session.post(
            f"{url}/contacts/import",
            json={"fileBody": chunk, "listIds": [list_id]},
            timeout=300,
        )
        resp.raise_for_status()
        ids.append(resp.json()["processId"])
    for process_id in ids:
        wait_for(session, url, process_id, poll_s=poll_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--chunk-mb", type=float, default=8.0)
    args = parser.parse_args()

    port = free_port()
    key = secrets.token_urlsafe(16)
    env = {**os.environ, "BREVO_SANDBOX_API_KEY": key}
    server = subprocess.Popen(
        [sys.executable, "-m", "etl.sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    url = f"{root}/v3"
    session = requests.Session()
    session.headers["api-key"] = key
    try:
        for _ in range(100):
            try:
                session.get(f"{root}/_sandbox/config", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        session.post(
            f"{root}/_sandbox/config",
            json={"process_delay_s": 0, "contacts_rps": 100_000, "other_rph": 1_000_000},
            timeout=10,
        ).raise_for_status()
        for name, type_ in (("BIRTHDAY", "date"), ("SCORE", "float"), ("VIP", "boolean")):
            session.post(
                f"{url}/contacts/attributes/normal/{name}", json={"type": type_}, timeout=10
            ).raise_for_status()
        session.post(
            f"{url}/contacts/attributes/normal/CITY", json={"type": "text"}, timeout=10
        ).raise_for_status()
        folder = session.post(f"{url}/contacts/folders", json={"name": "bench"}, timeout=10)
        list_id = session.post(
            f"{url}/contacts/lists",
            json={"name": "bench", "folderId": folder.json()["id"]},
            timeout=10,
        ).json()["id"]

        chunks = make_chunks(args.contacts, int(args.chunk_mb * 1024 * 1024))
        body_mb = sum(len(c) for c in chunks) / 1024 / 1024
        print(f"{args.contacts} contacts, {body_mb:.1f} MB of fileBody in {len(chunks)} chunks")

        started = time.perf_counter()
        import_chunks(session, url, chunks, list_id)
        import_s = time.perf_counter() - started
        count = session.get(f"{url}/contacts", params={"limit": 1}, timeout=60).json()["count"]
        print(f"import: {import_s:.1f} s ({count} contacts in the account)")

        started = time.perf_counter()
        resp = session.post(
            f"{url}/contacts/export",
            json={
                "customContactFilter": {"actionForContacts": "allContacts", "listId": list_id},
                "exportAttributes": ["FIRSTNAME", "LASTNAME", "BIRTHDAY", "SCORE", "VIP", "CITY"],
                "exportMetadata": ["_listIds"],
            },
            timeout=60,
        )
        resp.raise_for_status()
        proc = wait_for(session, url, resp.json()["processId"])
        ready_s = time.perf_counter() - started
        data = requests.get(str(proc["export_url"]), timeout=300).content
        export_s = time.perf_counter() - started
        rows = data.count(b"\n") - 1
        print(
            f"export: {export_s:.1f} s ({ready_s:.1f} s to completed, then download of "
            f"{len(data) / 1024 / 1024:.1f} MB, {rows} rows)"
        )
        ok = import_s < 120 and export_s < 60 and count == args.contacts == rows
        print("within targets" if ok else "OUTSIDE TARGETS (import < 120 s, export < 60 s)")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
