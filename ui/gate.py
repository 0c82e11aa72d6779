"""Who may use the dashboard: everyone on this computer, and only people with a login when it is shared.

- **Host allowlist** (always): a page is served only when the browser's ``Host`` header names this
  machine (``localhost``, ``127.0.0.1``, ``::1``, the address the server listens on) or a name in
  ``TRANSFERLAB_ALLOWED_HOSTS`` (comma-separated). A web page elsewhere that points its own domain
  name at 127.0.0.1 (DNS rebinding) is refused.
- **Login when shared**: bound beyond localhost (``--server.address 0.0.0.0`` for a team demo), or
  with ``TRANSFERLAB_REQUIRE_LOGIN=1`` (behind a reverse proxy), the dashboard asks for a login: Streamlit's ``st.login`` with OpenID Connect when ``[auth]`` is set in
  ``.streamlit/secrets.toml``, else a password from ``TRANSFERLAB_PASSWORD`` (or ``password`` in the
  secrets file), compared in constant time. With neither, it shows how to set one and nothing else.
- **Model folders when shared**: the model field accepts catalog names, Hugging Face ids and folders
  under ``TRANSFERLAB_MODEL_ROOTS`` (``os.pathsep``-separated; default the workspace's ``models``
  folder and its ``adaptations``, where the dashboard's adapted models are). Any other path is refused
  before it is looked at, so the field cannot tell a visitor which
  folders exist on the server.
- **Data files by path when shared** (the Data page's "A file on this computer"): only files under
  ``TRANSFERLAB_DATA_ROOTS`` (``os.pathsep``-separated; default the workspace's ``data`` folder), by the
  same rule: any other path is refused with the same words before it is looked at.
"""

from __future__ import annotations

import hmac
import os
import re
import time
from pathlib import Path

import streamlit as st

from engine.core import catalog, workspace
from ui.large_data import typed_path

LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")
HOSTS_ENV = "TRANSFERLAB_ALLOWED_HOSTS"
PASSWORD_ENV = "TRANSFERLAB_PASSWORD"
ROOTS_ENV = "TRANSFERLAB_MODEL_ROOTS"
DATA_ROOTS_ENV = "TRANSFERLAB_DATA_ROOTS"
REQUIRE_ENV = "TRANSFERLAB_REQUIRE_LOGIN"  # behind a reverse proxy the server listens on 127.0.0.1
WRONG_PASSWORD_DELAY_S = 1.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


# --- pure rules (tested directly) --------------------------------------------------------------------
def is_shared(address: str | None) -> bool:
    """Whether a server bound to ``address`` can be reached from other machines (unset: all interfaces)."""
    return (address or "").strip("[]") not in LOCAL_ADDRESSES


def allowed_hosts(address: str | None, extra: str | None = None) -> set[str]:
    hosts = {*LOCAL_ADDRESSES}
    if address and address not in ("0.0.0.0", "::"):
        hosts.add(address.strip("[]").lower())
    hosts |= {h.strip().lower() for h in (extra or "").split(",") if h.strip()}
    return hosts


def host_allowed(host_header: str | None, allowed: set[str]) -> bool:
    """Whether a request's ``Host`` header (``name``, ``name:port``, ``[::1]:port``) is one of ``allowed``."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    bracketed = re.fullmatch(r"\[([0-9a-f:.]+)\](:\d+)?", host)
    if bracketed:
        host = bracketed.group(1)
    elif re.fullmatch(r"[^:\[\]]+(:\d+)?", host):
        host = host.split(":", 1)[0]
    else:
        return False
    return host in allowed


def password_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def model_roots() -> list[Path]:
    value = os.environ.get(ROOTS_ENV)
    roots = value.split(os.pathsep) if value else [str(workspace.home() / "models"), str(workspace.adaptations_dir())]
    return [Path(r).expanduser().resolve() for r in roots if r]


def shared_model_problem(name: str, roots: list[Path]) -> str | None:
    """Why a shared dashboard refuses the model field's value, or None: a catalog name, a Hugging Face id
    (``name`` or ``org/name``) or a folder under one of ``roots``. An absolute, home or parent path
    outside the roots is refused from its text alone, before anything is looked up on disk."""
    name = name.strip()
    if catalog.find(name) is not None:
        return None
    if _HUB_ID.match(name) and ".." not in name:
        local = Path(name).resolve()  # the same text can name a folder relative to the server's folder
        if not local.exists() or any(local.is_relative_to(root) for root in roots):
            return None
    elif any(Path(name).expanduser().resolve().is_relative_to(root) for root in roots):
        return None
    where = ", ".join(str(r) for r in roots)
    return (
        "This dashboard is shared, so model folders can only be used from the folders set for it "
        f"({where}; TRANSFERLAB_MODEL_ROOTS changes them). Use a model from the cards or a Hugging Face id."
    )


def data_roots() -> list[Path]:
    value = os.environ.get(DATA_ROOTS_ENV)
    roots = value.split(os.pathsep) if value else [str(workspace.home() / "data")]
    return [Path(r).expanduser().resolve() for r in roots if r]


def shared_data_problem(text: str, roots: list[Path]) -> str | None:
    """Why a shared dashboard refuses a data file's path, or None: it must lie under one of ``roots``, which
    is decided from the path's text alone (the same words for a file that exists and one that does not).

    >>> shared_data_problem("/srv/data/reviews.csv", [Path("/srv/data")]) is None
    True
    >>> shared_data_problem("/etc/passwd.csv", [Path("/srv/data")])[:36]
    'This dashboard is shared, so a file '
    """
    if any(typed_path(text).resolve().is_relative_to(root) for root in roots):
        return None
    where = ", ".join(str(r) for r in roots)
    return (
        f"This dashboard is shared, so a file on the server can only be used from the folders set for it ({where}; "
        f"{DATA_ROOTS_ENV} changes them). Put the file there, or upload it."
    )


# --- Streamlit ---------------------------------------------------------------------------------------
def server_address() -> str | None:
    return st.get_option("server.address")


def _secret(key: str) -> str | None:
    try:
        value = st.secrets.get(key)
    except (FileNotFoundError, KeyError, OSError, ValueError):
        return None
    return str(value) if value else None


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, OSError, ValueError):
        return False


def require_access() -> None:
    """Stop the page unless this browser may use the dashboard (see the module's docstring)."""
    address = server_address()
    host = st.context.headers.get("Host") if st.context.headers else None
    if host is not None and not host_allowed(host, allowed_hosts(address, os.environ.get(HOSTS_ENV))):
        st.error(
            f"This dashboard does not answer to the address '{host}'. Open it through this machine's own "
            f"address, or add that name to {HOSTS_ENV} on the server.",
            icon=":material/block:",
        )
        st.stop()
    if not needs_login(address):
        return
    if _oidc_configured():
        if not st.user.is_logged_in:
            st.title("TransferLab")
            st.info("This dashboard is shared: log in to use it.", icon=":material/lock:")
            st.button("Log in", on_click=st.login, type="primary")
            st.stop()
        st.sidebar.button("Log out", on_click=st.logout)
        return
    expected = os.environ.get(PASSWORD_ENV) or _secret("password")
    if not expected:
        st.title("TransferLab")
        st.error(
            f"This dashboard listens on '{address or 'every network interface'}', so anyone who can reach this "
            f"machine could see your data, download your models and delete runs. Set a password in the "
            f"environment variable {PASSWORD_ENV} (or 'password' in .streamlit/secrets.toml), configure a login "
            "provider ([auth] in secrets.toml), or run it on 127.0.0.1 only (make run).",
            icon=":material/lock:",
        )
        st.stop()
    if st.session_state.get("_gate_passed"):
        return
    st.title("TransferLab")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if password_matches(given, expected):
            st.session_state["_gate_passed"] = True
            st.rerun()
        time.sleep(WRONG_PASSWORD_DELAY_S)  # slows guessing down
        st.error("Wrong password.", icon=":material/error:")
    st.stop()


def needs_login(address: str | None) -> bool:
    """Shared (bound beyond localhost), or behind a reverse proxy that says so (TRANSFERLAB_REQUIRE_LOGIN=1)."""
    return is_shared(address) or os.environ.get(REQUIRE_ENV) == "1"


def model_problem_when_shared(name: str) -> str | None:
    """The shared dashboard's rule for the model field (None on a dashboard only this computer reaches)."""
    if not needs_login(server_address()):
        return None
    return shared_model_problem(name, model_roots())


def data_problem_when_shared(text: str) -> str | None:
    """The shared dashboard's rule for a data file given by its path (None when only this computer reaches it)."""
    if not needs_login(server_address()):
        return None
    return shared_data_problem(text, data_roots())
