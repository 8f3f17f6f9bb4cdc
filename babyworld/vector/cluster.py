"""Connecting to a Ray cluster: a local one started here, or one at an address.

Used by the two things that run on Ray: a run's rollout workers (``babyworld train --ray``,
:mod:`babyworld.vector.distributed`) and an ablation's runs (``babyworld ablate --ray``). Ray is
imported only when one of them is used.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from typing import Any

#: ``--ray local`` (or ``--ray`` alone): start a Ray cluster on this machine.
LOCAL = "local"
INSTALL_HINT = "pip install 'babyworld[ray]' (or pip install 'ray>=2.40')"
#: Seconds allowed to open a TCP connection to a cluster's address before giving up.
CONNECT_TIMEOUT = 10.0


def import_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as e:
        raise ImportError(f"distributed rollouts (--ray) need Ray: {INSTALL_HINT}") from e


def _host_port(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port``, ``ray://host:port`` or ``host`` (Ray's port 6379)."""
    rest = address.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, 10001 if address.startswith("ray://") else 6379
    if not port.isdigit():
        raise ValueError(f"Ray address {address!r} must be HOST:PORT (e.g. 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


def probe(address: str) -> None:
    """``ConnectionError`` unless a TCP connection to ``address`` opens within a bounded time."""
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ConnectionError(
            f"no Ray cluster answers at {address!r} ({host}:{port}: {e}; gave up after at most "
            f"{CONNECT_TIMEOUT:.0f} s). Start one there with 'ray start --head --port {port}' "
            "(and 'ray start --address HEAD:PORT' on the other machines), check the address and "
            "the firewall, or pass --ray alone for a local cluster on this machine"
        ) from e


def check_address(address: str | None) -> Any:
    """The ``ray`` module, after a bounded probe of ``address`` (none for a local cluster or ``auto``).

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
        ConnectionError: nothing answers at ``address``.
    """
    ray = import_ray()
    if address not in (None, LOCAL, "auto"):
        probe(address)
    return ray


def connect(address: str | None = None) -> bool:
    """Connect to the Ray cluster at ``address``, or start a local one (``None`` or ``"local"``).

    A local cluster uses this machine's CPUs, no dashboard and quiet logging. An address is first
    probed with a bounded TCP connect (Ray's own client retries for minutes when nothing answers).
    Nothing happens if Ray is already initialised in this process.

    Returns:
        Whether this call started or connected Ray (the caller then shuts it down).

    Raises:
        ImportError: Ray is not installed.
        ConnectionError: nothing answers at ``address``, or Ray refused to connect.
    """
    ray = check_address(address)
    local = address is None or address == LOCAL
    if ray.is_initialized():
        return False
    if local:
        ray.init(
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
        return True
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConnectionError(
            f"could not connect to the Ray cluster at {address!r}: {e}. Check that the cluster "
            "runs the same Ray and Python versions as this machine, or use --ray alone for a "
            "local cluster"
        ) from e
    return True
