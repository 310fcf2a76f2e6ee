"""moto's S3 server in a process of its own: ``python -m bench.s3_server``.

Prints ``s3 endpoint: http://127.0.0.1:PORT`` once it listens (ephemeral port)
and serves until SIGTERM or SIGINT. Run apart from the harness so that its
CPU and memory are not counted as the client's.
"""

from __future__ import annotations

import signal
import sys
import threading


def main() -> None:
    from moto.server import ThreadedMotoServer

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        print(f"s3 endpoint: http://{host}:{port}", flush=True)
        stop.wait()
    finally:
        server.stop()
        server._server.server_close()  # stop() leaves the listening socket open
    sys.exit(0)


if __name__ == "__main__":
    main()
