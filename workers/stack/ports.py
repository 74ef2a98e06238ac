"""The stack's TCP ports: checked before any child starts, or picked free for a stack that
runs beside others (tests, bench, chaos)."""

from __future__ import annotations

import ipaddress
import socket

from workers.stack.errors import StackError


class PortInUseError(StackError):
    """A port the stack needs is already taken; ``paysaga dev`` exits with code 2."""

    def __init__(self, port: int, label: str, host: str) -> None:
        self.port = port
        self.label = label
        self.host = host
        super().__init__(f"port {port} ({label}) is already in use on {host}")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_is_free(host: str, port: int) -> bool:
    """True when a server could listen on ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port held only by TIME_WAIT connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(host: str, ports: list[tuple[int, str]]) -> None:
    """Raise ``PortInUseError`` naming the first of ``(port, label)`` that is taken, or
    ``StackError`` for a port given twice."""
    seen: dict[int, str] = {}
    for port, label in ports:
        if port in seen:
            raise StackError(f"port {port} is given for both {seen[port]} and {label}")
        seen[port] = label
        if not port_is_free(host, port):
            raise PortInUseError(port, label, host)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct ports the OS considers free right now (every socket is held until all are
    chosen, so two calls inside one stack cannot hand out the same port)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (for tests)."""
    return free_ports(1, host)[0]


def free_stack_ports(host: str = "127.0.0.1") -> dict[str, int]:
    """``EmbeddedStack`` port arguments, all free and distinct: a stack beside others."""
    temporal, temporal_http, temporal_metrics, ui, gateway, api, metrics, codec, smtp = free_ports(
        9, host
    )
    return {
        "temporal_port": temporal,
        "temporal_http_port": temporal_http,
        "temporal_metrics_port": temporal_metrics,
        "ui_port": ui,
        "gateway_port": gateway,
        "api_port": api,
        "metrics_port": metrics,
        "ui_codec_port": codec,
        "smtp_port": smtp,
    }
