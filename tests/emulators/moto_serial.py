"""moto's server, answering one request at a time.

`moto_server` runs werkzeug with threaded=True, and moto's DynamoDB checks a condition and then
writes without a lock: two conditional writes to the same item can interleave, so a 64-way race
on one `attribute_not_exists(pk)` PutItem sometimes has two winners (seen: 1 round in 50).
Real DynamoDB never allows that (conditional writes are atomic per item). Serving one request at
a time restores that guarantee, so the race tests judge our code, not the stand-in's threading.

Usage: python moto_serial.py HOST PORT
"""

import signal
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
