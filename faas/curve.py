"""ZeroMQ CURVE between dispatcher and workers: encryption and worker authentication.

``faas keys DIR`` writes a key pair for the dispatcher and one for workers::

    DIR/dispatcher.key, DIR/dispatcher.key_secret   the dispatcher's (keep the secret there)
    DIR/worker.key, DIR/worker.key_secret           the workers' (copy to worker hosts)
    DIR/authorized/worker.key                       public keys the dispatcher admits

With ``FAAS_CURVE_DIR=DIR`` the dispatcher is a CURVE server that admits only clients whose
public key is in ``DIR/authorized/``, and a worker connects with ``worker.key_secret`` and
the dispatcher's public key. A host without an admitted key can neither register (and so
never receives user functions) nor send results: its handshake fails before any message.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import zmq
import zmq.asyncio
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator

log = logging.getLogger(__name__)


def generate_keys(directory: str | Path) -> Path:
    """Create the dispatcher's and the workers' key pairs in ``directory``."""
    root = Path(directory)
    (root / "authorized").mkdir(parents=True, exist_ok=True)
    for name in ("dispatcher", "worker"):
        public, _ = zmq.auth.create_certificates(str(root), name)
        (root / f"{name}.key_secret").chmod(0o600)
    shutil.copy(root / "worker.key", root / "authorized" / "worker.key")
    return root


def secure_server(socket: zmq.asyncio.Socket, directory: str | Path) -> AsyncioAuthenticator:
    """Make ``socket`` a CURVE server admitting the keys in ``directory/authorized``; start
    (and answer) the authenticator, which must be stopped with the socket."""
    root = Path(directory)
    auth = AsyncioAuthenticator(socket.context)
    auth.start()
    auth.configure_curve(domain="*", location=str(root / "authorized"))
    public, secret = zmq.auth.load_certificate(str(root / "dispatcher.key_secret"))
    socket.curve_secretkey, socket.curve_publickey = secret, public
    socket.curve_server = True
    return auth


def secure_client(socket: zmq.Socket[bytes], directory: str | Path) -> None:
    """Make ``socket`` a CURVE client with the worker's keys and the dispatcher's public key."""
    root = Path(directory)
    public, secret = zmq.auth.load_certificate(str(root / "worker.key_secret"))
    server_public, _ = zmq.auth.load_certificate(str(root / "dispatcher.key"))
    socket.curve_secretkey, socket.curve_publickey = secret, public
    socket.curve_serverkey = server_public
