"""Whether a TCP port is free to serve on; stdlib only, so `make run` can ask before installing anything."""

from __future__ import annotations

import errno
import socket
import sys


def port_problem(host: str, port: int) -> str | None:
    """Why `serve` could not listen on host:port, or None when it could."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{host} is not an address of this machine ({exc.strerror})."
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # uvicorn sets SO_REUSEADDR too, so a port left in TIME_WAIT by a stopped server counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use (another `callreport serve`?)."
            return f"cannot listen on {host}:{port}: {exc.strerror}."
    return None


def main(argv: list[str]) -> int:
    """`python portcheck.py HOST PORT`: exit 0 when free, else say why and how to choose another."""
    host, port = argv[0], int(argv[1])
    problem = port_problem(host, port)
    if problem is None:
        return 0
    sys.stderr.write(f"error: {problem}\nStop what uses it, or choose another port: make run PORT={port + 1}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
