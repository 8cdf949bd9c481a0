"""``fcemu serve``: command-line options → Settings → Emulator. No logic of its own."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from fcemu.clock import to_epoch_ms
from fcemu.server import Emulator
from fcemu.settings import DEFAULT_START_MS, Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcemu", description="Local emulator of Alibaba Cloud Function Compute 3.0 "
        "asynchronous invocation and async tasks, with SMQ (MNS) destinations.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator until SIGINT/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9000, help="port (default 9000; 0 = free)")
    serve.add_argument("--clock", choices=("real", "manual"), default="real",
                       help="real wall time, or a manual clock moved through /_fcemu/clock")
    serve.add_argument("--start-time", default=None, metavar="TIME",
                       help="manual clock start: ISO 8601 or epoch ms (default 2024-05-01Z)")
    serve.add_argument("--region", default="cn-hangzhou")
    serve.add_argument("--account-id", default="1234567890123456")
    serve.add_argument("--seed", type=int, default=None, help="seed for every generated ID")
    serve.add_argument("--destination-encoding", choices=("raw", "base64"), default="raw",
                       help="SMQ destination message bodies: raw JSON (default) or Base64")
    serve.add_argument("--strict-destinations", action="store_true",
                       help="fail deliveries to queues/topics that do not exist")
    serve.add_argument("--retry-base-ms", type=int, default=500,
                       help="first async retry backoff in ms (doubles per retry)")
    serve.add_argument("--max-instances", type=int, default=16,
                       help="cap on concurrently running handler processes")
    serve.add_argument("--log-level", default="WARNING")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        start = DEFAULT_START_MS if args.start_time is None else to_epoch_ms(args.start_time)
    except ValueError as exc:
        raise SystemExit(f"fcemu: --start-time: {exc}") from None
    return Settings(
        host=args.host, port=args.port, clock=args.clock, start_ms=start, region=args.region,
        account_id=args.account_id, seed=args.seed,
        destination_encoding=args.destination_encoding,
        strict_destinations=args.strict_destinations, retry_base_ms=args.retry_base_ms,
        max_instances=args.max_instances,
    )


def serve(settings: Settings) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator = Emulator(settings)
    try:
        url = emulator.start()
    except OSError as exc:
        print(f"fcemu: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    print(f"fcemu listening on {url} (clock={settings.clock}, region={settings.region}, "
          f"account={settings.account_id})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    return serve(settings_from(args))


if __name__ == "__main__":
    sys.exit(main())
