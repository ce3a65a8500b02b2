"""``python -m etl.sandbox --host 127.0.0.1 --port 8787 [--db PATH]``."""

from __future__ import annotations

import argparse
import sys

from etl.sandbox.profiles import DEFAULT_PROFILE, PROFILES
from etl.sandbox.server import API_KEY_ENV, SandboxServer


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox in the foreground; print its base URL and key."""
    parser = argparse.ArgumentParser(prog="python -m etl.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--db", default=None, help="SQLite file (default: in memory)")
    parser.add_argument("--profile", choices=list(PROFILES), default=DEFAULT_PROFILE)
    parser.add_argument("--account-email", default=None, help="the account's login email")
    args = parser.parse_args(argv)
    server = SandboxServer(
        host=args.host,
        port=args.port,
        db_path=args.db,
        profile=args.profile,
        account_email=args.account_email,
    )
    print(f"Brevo sandbox: {server.url}")
    print(f"profile: {server.profile}; account: {server.account_email}")
    if server.key_generated:
        print(f"api-key: {server.api_key}")
    else:
        print(f"api-key: taken from {API_KEY_ENV}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
