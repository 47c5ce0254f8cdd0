#!/usr/bin/env python3
"""Local cloud controller: AWS emulator (moto), PostgreSQL (TLS), TimescaleDB and a Kafka-protocol broker.

    python localcloud/ctl.py up [--services moto,kafka]
    python localcloud/ctl.py down [--services ...] [--purge]
    python localcloud/ctl.py status [--services ...]
    python localcloud/ctl.py env
    python localcloud/ctl.py run [--services ...] -- CMD ...

See localcloud/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import fcntl
import glob
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
REGION = "us-east-1"
AWS_KEY = "testing"
ALL_SERVICES = ("moto", "postgres", "timescaledb", "kafka")
# Started only on request (--services ...,faults): the fault-injecting proxy in front of the emulator.
OPTIONAL_SERVICES = ("faults",)
DEFAULT_PORTS = {"moto": 15566, "postgres": 15432, "timescaledb": 15433, "kafka": 19092, "faults": 15567}
PORT_VARS = {
    "moto": "LOCALCLOUD_MOTO_PORT",
    "postgres": "LOCALCLOUD_PG_PORT",
    "timescaledb": "LOCALCLOUD_TSDB_PORT",
    "kafka": "LOCALCLOUD_KAFKA_PORT",
    "faults": "LOCALCLOUD_FAULTS_PORT",
}
# Initial fault rates and seed of the proxy (changed at run time with POST /_faults, see localcloud/faults.py).
FAULT_VARS = {"throttle": "LOCALCLOUD_FAULTS_THROTTLE", "unavailable": "LOCALCLOUD_FAULTS_UNAVAILABLE",
              "seed": "LOCALCLOUD_FAULTS_SEED"}
START_TIMEOUT = float(os.environ.get("LOCALCLOUD_START_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("LOCALCLOUD_STOP_TIMEOUT", "20"))
POLL_INTERVAL = 0.2
LOG_TAIL_LINES = 40
PG_ADMIN = "platform_admin"
PG_OS_USER = "postgres"
EXIT_NOT_ALL_UP = 3


class LocalCloudError(Exception):
    """A user-facing failure (printed without a traceback)."""


# --------------------------------------------------------------------------------------------------------------------
# Context: state dir, ports, secrets
# --------------------------------------------------------------------------------------------------------------------


class Ctx:
    def __init__(self) -> None:
        self.state = Path(os.environ.get("LOCALCLOUD_DIR") or REPO / ".localcloud").absolute()
        self.ports: dict[str, int] = {}
        for name, var in PORT_VARS.items():
            raw = os.environ.get(var) or str(DEFAULT_PORTS[name])
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise LocalCloudError(f"{var}={raw!r} is not a TCP port number")
            self.ports[name] = int(raw)

    def dir(self, service: str) -> Path:
        return self.state / service

    def pid_file(self, service: str) -> Path:
        return self.dir(service) / "pid"

    def log_file(self, service: str) -> Path:
        return self.dir(service) / f"{service}.log"

    @property
    def endpoints_file(self) -> Path:
        return self.state / "endpoints.json"

    @property
    def request_log(self) -> Path:
        return self.dir("moto") / "requests.jsonl"

    @property
    def ca_cert(self) -> Path:
        return self.dir("postgres") / "ca.crt"

    @property
    def tsdb_ca_cert(self) -> Path:
        return self.dir("timescaledb") / "ca.crt"

    def ensure_dirs(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        for service in ALL_SERVICES + OPTIONAL_SERVICES:
            self.dir(service).mkdir(exist_ok=True)

    def password(self, service: str, create: bool = True) -> str | None:
        """The generated password of a service, created once (0600 file in the service's state folder)."""
        path = self.dir(service) / "password"
        if path.exists():
            return path.read_text().strip()
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(24) + "\n")
        return path.read_text().strip()

    def endpoints(self) -> dict[str, Any]:
        return {
            "aws": {
                "endpoint_url": f"http://{HOST}:{self.ports['moto']}",
                "region": REGION,
                "access_key": AWS_KEY,
                "secret_key": AWS_KEY,
                "request_log": str(self.request_log),
            },
            "postgres": {
                "host": HOST,
                "port": self.ports["postgres"],
                "user": PG_ADMIN,
                "password": self.password("postgres"),
                "dbname": "postgres",
                "sslmode": "verify-full",
                "sslrootcert": str(self.ca_cert),
            },
            "timescaledb": {
                "host": HOST,
                "port": self.ports["timescaledb"],
                "user": "postgres",
                "password": self.password("timescaledb"),
                "dbname": "postgres",
                "sslmode": "verify-full",
                "sslrootcert": str(self.tsdb_ca_cert),
            },
            "kafka": {"bootstrap_servers": f"{HOST}:{self.ports['kafka']}", "security_protocol": "PLAINTEXT"},
            # the fault-injecting proxy (only answers while the faults service runs): point endpoint_url here
            "faults": {
                "endpoint_url": f"http://{HOST}:{self.ports['faults']}",
                "control_url": f"http://{HOST}:{self.ports['faults']}/_faults",
                "log": str(self.dir("faults") / "faults.jsonl"),
            },
        }

    def env_vars(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": f"http://{HOST}:{self.ports['moto']}",
            "AWS_ACCESS_KEY_ID": AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "LOCALCLOUD_DIR": str(self.state),
            "LOCALCLOUD_ENDPOINTS": str(self.endpoints_file),
            "LOCALCLOUD_REQUEST_LOG": str(self.request_log),
            **{var: str(self.ports[name]) for name, var in PORT_VARS.items()},
        }

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialize up/down of one state dir between concurrent ctl.py invocations."""
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def write_private(path: Path, content: str | bytes, mode: int = 0o600) -> None:
    """Atomically write a file that is created with ``mode`` (never world-readable in between)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------------------------


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, its command line contains ``marker``."""
    if not pid or pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own exited child: reap it
            return False
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        except PermissionError:
            return True
        if state in ("Z", "X"):
            return False
        return marker is None or marker in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def port_open(port: int, timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((HOST, port)) == 0


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | str | None = None) -> int:
    """Start a long-running service process detached from our session, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        fh.write(f"=== localcloud: starting at {_now()}: {shlex.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    return proc.pid


def terminate(pid: int, marker: str | None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM ``pid``, wait, SIGKILL (its whole process group) after ``timeout``."""
    if not pid_alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not pid_alive(pid, marker), timeout):
        _kill_leftover_group(pid)
        return
    print(f"  pid {pid} did not exit within {timeout:.0f}s after SIGTERM; sending SIGKILL", file=sys.stderr)
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill()
    wait_until(lambda: not pid_alive(pid, marker), 10)


def _kill_leftover_group(pgid: int) -> None:
    """Services are session leaders (start_new_session): make sure no child of theirs outlives them."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    if not wait_until(lambda: not _group_exists(pgid), 5):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_until(predicate: Any, timeout: float, interval: float = POLL_INTERVAL) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------------------------------


class Service:
    name = ""

    def marker(self, ctx: Ctx) -> str:
        raise NotImplementedError

    def log_path(self, ctx: Ctx) -> Path:
        return ctx.log_file(self.name)

    def current_pid(self, ctx: Ctx) -> int | None:
        """The recorded PID if that process is alive (and is ours), else None."""
        pid = read_pid(ctx.pid_file(self.name))
        return pid if pid_alive(pid, self.marker(ctx)) else None

    def health(self, ctx: Ctx) -> tuple[bool, str]:
        """One real request against the service: (ok, detail)."""
        raise NotImplementedError

    def prepare(self, ctx: Ctx) -> None:
        """Slow one-time work before start (installs, initdb); runs before the port check."""

    def start(self, ctx: Ctx) -> int:
        raise NotImplementedError

    def stop(self, ctx: Ctx, pid: int) -> None:
        terminate(pid, self.marker(ctx))

    def purge(self, ctx: Ctx) -> None:
        shutil.rmtree(ctx.dir(self.name), ignore_errors=True)

    def endpoint_text(self, ctx: Ctx) -> str:
        return f"{HOST}:{ctx.ports[self.name]}"


class Moto(Service):
    name = "moto"

    def marker(self, ctx: Ctx) -> str:  # unique per state dir, port-independent
        return str(ctx.request_log)

    def endpoint_text(self, ctx: Ctx) -> str:
        return f"http://{HOST}:{ctx.ports['moto']}"

    def start(self, ctx: Ctx) -> int:
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true", MOTO_PORT=str(ctx.ports["moto"]))
        cmd = [
            sys.executable,
            str(HERE / "moto_server.py"),
            "--host",
            HOST,
            "--port",
            str(ctx.ports["moto"]),
            "--request-log",
            str(ctx.request_log),
        ]
        return spawn(cmd, self.log_path(ctx), env=env, cwd=ctx.dir(self.name))

    def health(self, ctx: Ctx) -> tuple[bool, str]:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "sts",
            endpoint_url=f"http://{HOST}:{ctx.ports['moto']}",
            region_name=REGION,
            aws_access_key_id=AWS_KEY,
            aws_secret_access_key=AWS_KEY,
            config=Config(connect_timeout=2, read_timeout=15, retries={"max_attempts": 1}),
        )
        try:
            ident = client.get_caller_identity()
        except Exception as exc:
            return False, f"sts:GetCallerIdentity failed: {exc}"
        return True, f"account {ident['Account']}"


class FaultProxy(Service):
    """localcloud/faults.py in front of the emulator: service-correct throttling errors and 503s at a set rate."""

    name = "faults"

    def marker(self, ctx: Ctx) -> str:
        return str(ctx.dir(self.name) / "faults.jsonl")

    def endpoint_text(self, ctx: Ctx) -> str:
        return f"http://{HOST}:{ctx.ports['faults']}"

    def start(self, ctx: Ctx) -> int:
        cmd = [sys.executable, str(HERE / "faults.py"), "--host", HOST, "--port", str(ctx.ports["faults"]),
               "--upstream", f"http://{HOST}:{ctx.ports['moto']}", "--log", self.marker(ctx)]
        for option, var in FAULT_VARS.items():
            if os.environ.get(var):
                cmd += [f"--{option}", os.environ[var]]
        return spawn(cmd, self.log_path(ctx), cwd=ctx.dir(self.name))

    def health(self, ctx: Ctx) -> tuple[bool, str]:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://{HOST}:{ctx.ports['faults']}/_faults", timeout=2) as answer:  # noqa: S310
                stats = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            return False, f"GET /_faults failed: {exc}"
        return True, (f"throttle {stats['throttle']}, unavailable {stats['unavailable']}, seed {stats['seed']}; "
                      f"{stats['requests']} requests, {stats['injected']} faults")


class Postgres(Service):
    name = "postgres"

    # -- locations ---------------------------------------------------------------------------------------------------
    def pg_root(self, ctx: Ctx) -> Path:
        """Folder (or symlink to the fallback folder) holding data/ and postgres.log, owned by the server user."""
        return ctx.dir("postgres") / "pg"

    def data_dir(self, ctx: Ctx) -> Path:
        return Path(os.path.realpath(self.pg_root(ctx))) / "data"

    def log_path(self, ctx: Ctx) -> Path:
        return Path(os.path.realpath(self.pg_root(ctx))) / "postgres.log"

    def marker(self, ctx: Ctx) -> str:
        return str(self.data_dir(ctx))

    def current_pid(self, ctx: Ctx) -> int | None:
        pid = super().current_pid(ctx)
        if pid:
            return pid
        # pid file lost but the postmaster of our data dir still runs: adopt it
        pid = read_pid(self.data_dir(ctx) / "postmaster.pid")
        return pid if pid_alive(pid, self.marker(ctx)) else None

    # -- privileges --------------------------------------------------------------------------------------------------
    @staticmethod
    def as_root() -> bool:
        return os.geteuid() == 0

    def run_as(self) -> list[str]:
        return ["runuser", "-u", PG_OS_USER, "--"] if self.as_root() else []

    def _chown(self, path: Path) -> None:
        if self.as_root():
            import pwd

            pw = pwd.getpwnam(PG_OS_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid, follow_symlinks=False)

    def _server_user_can_write(self, path: Path) -> bool:
        if not self.as_root():
            return os.access(path, os.W_OK | os.X_OK)
        res = subprocess.run(
            [*self.run_as(), "test", "-w", str(path), "-a", "-x", str(path)], cwd="/", capture_output=True
        )
        return res.returncode == 0

    def _fallback_root(self, ctx: Ctx) -> Path:
        digest = hashlib.sha256(str(ctx.state.resolve()).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"mfg-localcloud-{digest}"  # noqa: S108 - owner/type checked in _check_fallback

    def _ensure_pg_root(self, ctx: Ctx) -> Path:
        """Create the server-owned folder; fall back to /var/tmp when the server user cannot reach the state dir."""
        link = self.pg_root(ctx)
        if link.is_symlink():
            target = Path(os.readlink(link))
            self._check_fallback(target)
            return target
        if link.is_dir():
            if not self._server_user_can_write(link):
                raise LocalCloudError(
                    f"the {PG_OS_USER!r} user cannot access {link}; fix the permissions or `down --purge` postgres"
                )
            return link
        link.mkdir(mode=0o700)
        self._chown(link)
        if self._server_user_can_write(link):
            return link
        link.rmdir()
        target = self._fallback_root(ctx)
        print(f"  postgres: state dir not reachable by user {PG_OS_USER!r}; using fallback {target}")
        if not target.exists():
            target.mkdir(mode=0o700)
            self._chown(target)
        self._check_fallback(target)
        link.symlink_to(target)
        return target

    def _check_fallback(self, target: Path) -> None:
        st = os.lstat(target)
        import pwd
        import stat as stat_mod

        allowed = {0, os.geteuid()}
        if self.as_root():
            allowed.add(pwd.getpwnam(PG_OS_USER).pw_uid)
        if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid not in allowed:
            raise LocalCloudError(f"refusing to use {target}: not a directory owned by us or {PG_OS_USER!r}")

    # -- binaries ----------------------------------------------------------------------------------------------------
    def bin_dir(self) -> Path:
        override = os.environ.get("LOCALCLOUD_PG_BIN")
        if override:
            return Path(override)
        found = self._find_bins()
        if found:
            return found
        if self.as_root() and shutil.which("apt-get"):
            print("  postgres: no server binaries found; installing with apt-get (one-time)")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update"], check=False, env=env)
            for pkg in ("postgresql-15", "postgresql"):
                if subprocess.run(["apt-get", "install", "-y", pkg], check=False, env=env).returncode == 0:
                    break
            found = self._find_bins()
            if found:
                return found
        raise LocalCloudError(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; install the distro's postgresql "
            "package (e.g. `sudo apt-get install postgresql-15`) or set LOCALCLOUD_PG_BIN"
        )

    @staticmethod
    def _find_bins() -> Path | None:
        def version(p: str) -> tuple[int, ...]:
            return tuple(int(x) for x in re.findall(r"\d+", p.split("/")[-2]))

        cands = [p for p in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(os.path.join(p, "pg_ctl"))]
        cands = [p for p in cands if re.search(r"\d", p.split("/")[-2])]
        return Path(max(cands, key=version)) if cands else None

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as(), *args], cwd="/", capture_output=True, text=True, timeout=timeout, start_new_session=True
        )

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def prepare(self, ctx: Ctx) -> None:
        bins = self.bin_dir()
        root = self._ensure_pg_root(ctx)
        data = root / "data"
        log_link = ctx.dir("postgres") / "postgres.log"
        if not log_link.is_symlink() and not log_link.exists():
            log_link.symlink_to(Path("pg") / "postgres.log")
        password_file = ctx.dir("postgres") / "password"
        if (data / "PG_VERSION").exists():
            if not password_file.exists():
                raise LocalCloudError(
                    "postgres data dir exists but its password file is gone; run `ctl.py down --purge --services "
                    "postgres` to re-create the cluster"
                )
        else:
            self._initdb(ctx, bins, root, data)
        self._configure(ctx, data)

    def _initdb(self, ctx: Ctx, bins: Path, root: Path, data: Path) -> None:
        if data.exists():
            shutil.rmtree(data)  # leftovers of an interrupted initdb
        data.mkdir(mode=0o700)
        self._chown(data)
        password = ctx.password("postgres")
        pwfile = root / ".pwfile"
        write_private(pwfile, password + "\n")
        self._chown(pwfile)
        try:
            res = self._run(
                [
                    str(bins / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    PG_ADMIN,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise LocalCloudError(f"initdb failed:\n{res.stdout}\n{res.stderr}")
        with open(data / "postgresql.conf", "a") as fh:
            fh.write("\n# managed by localcloud/ctl.py\ninclude_if_exists = 'localcloud.conf'\n")

    def _configure(self, ctx: Ctx, data: Path) -> None:
        self._ensure_tls(ctx, data)
        conf = (
            "# written by localcloud/ctl.py on every start\n"
            f"listen_addresses = '{HOST}'\n"
            f"port = {ctx.ports['postgres']}\n"
            "unix_socket_directories = ''\n"
            "ssl = on\n"
            "ssl_cert_file = 'server.crt'\n"
            "ssl_key_file = 'server.key'\n"
            "ssl_min_protocol_version = 'TLSv1.2'\n"
            "password_encryption = 'scram-sha-256'\n"
            "logging_collector = off\n"
        )
        hba = (
            "# written by localcloud/ctl.py: TLS-only TCP on loopback, SCRAM passwords; no plain `host` lines\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        )
        for fname, text in (("localcloud.conf", conf), ("pg_hba.conf", hba)):
            write_private(data / fname, text)
            self._chown(data / fname)

    def _ensure_tls(self, ctx: Ctx, data: Path) -> None:
        crt, key = data / "server.crt", data / "server.key"
        if ensure_tls_files(ctx.ca_cert, crt, key):
            self._chown(crt)
            self._chown(key)

    def start(self, ctx: Ctx) -> int:
        bins = self.bin_dir()
        data = self.data_dir(ctx)
        log = self.log_path(ctx)
        res = self._run(
            [str(bins / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT)), "start"],
            timeout=START_TIMEOUT + 30,
        )
        if res.returncode != 0:
            raise LocalCloudError(f"pg_ctl start failed:\n{res.stdout}{res.stderr}\n--- {log}:\n{log_tail(log)}")
        pid = read_pid(data / "postmaster.pid")
        if not pid:
            raise LocalCloudError(f"pg_ctl started the server but {data}/postmaster.pid is unreadable")
        return pid

    def stop(self, ctx: Ctx, pid: int) -> None:
        try:
            pg_ctl = str(self.bin_dir() / "pg_ctl")
            res = self._run(
                [pg_ctl, "-D", str(self.data_dir(ctx)), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT)), "stop"],
                timeout=STOP_TIMEOUT + 30,
            )
            ok = res.returncode == 0
            if not ok:
                print(f"  pg_ctl stop failed: {res.stdout}{res.stderr}".rstrip(), file=sys.stderr)
        except (LocalCloudError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"  pg_ctl stop failed: {exc}", file=sys.stderr)
        if pid_alive(pid, self.marker(ctx)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # postgres "fast shutdown"
            terminate(pid, self.marker(ctx))

    def purge(self, ctx: Ctx) -> None:
        link = self.pg_root(ctx)
        if link.is_symlink():
            target = Path(os.readlink(link))
            if target.name.startswith("mfg-localcloud-"):
                shutil.rmtree(target, ignore_errors=True)
        super().purge(ctx)

    def health(self, ctx: Ctx) -> tuple[bool, str]:
        import psycopg

        password = ctx.password("postgres", create=False)
        if not password or not ctx.ca_cert.exists():
            return False, "not initialized"
        try:
            with psycopg.connect(
                host=HOST,
                port=ctx.ports["postgres"],
                user=PG_ADMIN,
                password=password,
                dbname="postgres",
                sslmode="verify-full",
                sslrootcert=str(ctx.ca_cert),
                connect_timeout=3,
            ) as conn:
                value = conn.execute("SELECT 1").fetchone()
                version = conn.info.server_version
        except Exception as exc:
            return False, f"SELECT 1 over TLS failed: {str(exc).strip()}"
        if not value or value[0] != 1:
            return False, f"SELECT 1 returned {value!r}"
        return True, f"server {version // 10000}.{version % 10000}, TLS verify-full"

    def endpoint_text(self, ctx: Ctx) -> str:
        return f"{HOST}:{ctx.ports['postgres']} (TLS, user {PG_ADMIN})"


class TimescaleDB(Service):
    name = "timescaledb"

    @property
    def pkg_dir(self) -> Path:
        return HERE / "timescaledb"

    def marker(self, ctx: Ctx) -> str:
        return str(ctx.dir(self.name) / "password")

    def prepare(self, ctx: Ctx) -> None:
        if not (self.pkg_dir / "server.mjs").exists():
            raise LocalCloudError(f"TimescaleDB server not found: {self.pkg_dir / 'server.mjs'}")
        if not shutil.which("node"):
            raise LocalCloudError("`node` not found on PATH (Node.js >= 20 is needed for the TimescaleDB server)")
        if not (self.pkg_dir / "node_modules").exists() and (self.pkg_dir / "package-lock.json").exists():
            npm = shutil.which("npm")
            if not npm:
                raise LocalCloudError("`npm` not found on PATH; cannot install localcloud/timescaledb dependencies")
            print("  timescaledb: running npm ci (one-time)")
            with open(self.log_path(ctx), "ab") as fh:
                res = subprocess.run(
                    [npm, "ci", "--prefix", str(self.pkg_dir)], stdout=fh, stderr=subprocess.STDOUT, cwd=self.pkg_dir
                )
            if res.returncode != 0:
                raise LocalCloudError(f"npm ci failed:\n{log_tail(self.log_path(ctx))}")
        ctx.password("timescaledb")
        self._ensure_tls(ctx)

    @staticmethod
    def _ensure_tls(ctx: Ctx) -> None:
        """The server's own CA and certificate (TLS only, as the local PostgreSQL; verify-full against ca.crt)."""
        ensure_tls_files(ctx.tsdb_ca_cert, ctx.dir("timescaledb") / "server.crt", ctx.dir("timescaledb") / "server.key")

    def start(self, ctx: Ctx) -> int:
        # In memory on purpose: PGlite's TimescaleDB build, restarted on an existing data dir, comes up without
        # its license setting and refuses retention policies. The converge re-creates schemas and policies.
        cmd = [
            shutil.which("node") or "node",
            str(self.pkg_dir / "server.mjs"),
            "--host",
            HOST,
            "--port",
            str(ctx.ports[self.name]),
            "--password-file",
            str(ctx.dir(self.name) / "password"),
            "--tls-cert",
            str(ctx.dir(self.name) / "server.crt"),
            "--tls-key",
            str(ctx.dir(self.name) / "server.key"),
        ]
        return spawn(cmd, self.log_path(ctx), cwd=ctx.dir(self.name))

    def health(self, ctx: Ctx) -> tuple[bool, str]:
        import psycopg

        password = ctx.password("timescaledb", create=False)
        if not password:
            return False, "not initialized"
        try:
            with psycopg.connect(
                host=HOST,
                port=ctx.ports["timescaledb"],
                user="postgres",
                password=password,
                dbname="postgres",
                sslmode="verify-full",
                sslrootcert=str(ctx.tsdb_ca_cert),
                connect_timeout=3,
            ) as conn:
                row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        except Exception as exc:
            return False, f"query failed: {str(exc).strip()}"
        if not row:
            return False, "timescaledb extension not installed"
        return True, f"timescaledb {row[0]}"

    def endpoint_text(self, ctx: Ctx) -> str:
        return f"{HOST}:{ctx.ports['timescaledb']} (TLS, user postgres)"


class Kafka(Service):
    name = "kafka"

    def marker(self, ctx: Ctx) -> str:
        return str(ctx.dir(self.name) / "data")

    @staticmethod
    def binary() -> Path:
        """The broker binary inside the noida-db package (not its Python wrapper, which would orphan the broker)."""
        import importlib.util

        cands: list[Path] = []
        spec = importlib.util.find_spec("noida_db")
        if spec and spec.submodule_search_locations:
            cands += [Path(p) / "noida-db" for p in spec.submodule_search_locations]
        cands += [Path(p) for p in glob.glob(str(REPO / ".venv/lib/python3*/site-packages/noida_db*/noida-db"))]
        for cand in cands:
            if cand.is_file():
                if not os.access(cand, os.X_OK):
                    os.chmod(cand, 0o755)  # noqa: S103 - same as the noida-db wrapper does
                return cand
        raise LocalCloudError("noida-db broker binary not found; install noida-db into the venv (make venv)")

    def start(self, ctx: Ctx) -> int:
        data = ctx.dir(self.name) / "data"
        data.mkdir(exist_ok=True)
        cmd = [
            str(self.binary()),
            "start",
            "--data-dir",
            str(data),
            "--host",
            HOST,
            "--only",
            "kafka",
            "--kafka-port",
            str(ctx.ports[self.name]),
        ]
        return spawn(cmd, self.log_path(ctx), cwd=ctx.dir(self.name))

    def health(self, ctx: Ctx) -> tuple[bool, str]:
        from confluent_kafka.admin import AdminClient

        quiet = logging.getLogger("localcloud.kafka")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        admin = AdminClient(
            {
                "bootstrap.servers": f"{HOST}:{ctx.ports['kafka']}",
                "socket.connection.setup.timeout.ms": 2000,
                "logger": quiet,
            }
        )
        try:
            # No topic named: a topic-less metadata request (naming one would auto-create it on noida-db).
            md = admin.list_topics(timeout=3)
        except Exception as exc:
            return False, f"metadata request failed: {exc}"
        if not md.brokers:
            return False, "metadata response lists no brokers"
        return True, f"{len(md.brokers)} broker(s), {len(md.topics)} topic(s)"

    def endpoint_text(self, ctx: Ctx) -> str:
        return f"{HOST}:{ctx.ports['kafka']} (PLAINTEXT)"


SERVICES: dict[str, Service] = {s.name: s for s in (Moto(), Postgres(), TimescaleDB(), Kafka(), FaultProxy())}


def ensure_tls_files(ca: Path, crt: Path, key: Path) -> bool:
    """Write a new CA + server certificate + key unless all three exist and the certificate is valid for 30 more
    days. True when it wrote them."""
    from cryptography import x509

    if crt.exists() and key.exists() and ca.exists():
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        if cert.not_valid_after_utc - _dt.datetime.now(_dt.UTC) > _dt.timedelta(days=30):
            return False
    ca_pem, crt_pem, key_pem = make_tls_material()
    write_private(ca, ca_pem, 0o644)
    write_private(crt, crt_pem, 0o644)
    write_private(key, key_pem, 0o600)
    return True


def make_tls_material() -> tuple[bytes, bytes, bytes]:
    """A self-signed CA and a server certificate for localhost/127.0.0.1: (ca_pem, server_crt_pem, server_key_pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "manufacturing.platform localcloud CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return (
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


# --------------------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------------------


def parse_services(raw: str | None) -> list[str]:
    if not raw:
        return list(ALL_SERVICES)
    names = [s.strip() for s in raw.split(",") if s.strip()]
    known = ALL_SERVICES + OPTIONAL_SERVICES
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise LocalCloudError(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return [n for n in known if n in names]  # canonical order (the proxy after the emulator it fronts)


def write_endpoints(ctx: Ctx) -> None:
    write_private(ctx.endpoints_file, json.dumps(ctx.endpoints(), indent=2) + "\n")


def _fail_service(ctx: Ctx, svc: Service, reason: str, pid: int | None = None) -> LocalCloudError:
    log = svc.log_path(ctx)
    tail = log_tail(log)
    msg = f"{svc.name}: {reason}\n--- last {LOG_TAIL_LINES} lines of {log}:\n{tail}\n---"
    return LocalCloudError(msg)


def _wait_healthy(ctx: Ctx, svc: Service, pid: int) -> tuple[bool, str]:
    deadline = time.monotonic() + START_TIMEOUT
    detail = "no answer yet"
    while time.monotonic() < deadline:
        ok, detail = svc.health(ctx)
        if ok:
            return True, detail
        if not pid_alive(pid, svc.marker(ctx)):
            return False, f"process {pid} exited ({detail})"
        time.sleep(POLL_INTERVAL)
    return False, f"no healthy answer within {START_TIMEOUT:.0f}s ({detail})"


def up(ctx: Ctx, names: list[str], started: list[str]) -> None:
    """Start what is missing, reuse what runs. Appends each service it starts to ``started`` as soon as it runs."""
    ctx.ensure_dirs()
    reused: dict[str, tuple[int, str]] = {}
    pending: dict[str, int] = {}
    failures: list[str] = []
    for name in names:
        svc = SERVICES[name]
        pid = svc.current_pid(ctx)
        if pid:
            ok, detail = _wait_healthy(ctx, svc, pid)
            if ok:
                reused[name] = (pid, detail)
            else:
                failures.append(str(_fail_service(ctx, svc, f"running process {pid} is unhealthy: {detail}")))
            continue
        ctx.pid_file(name).unlink(missing_ok=True)  # stale pid file (if any)
        try:
            svc.prepare(ctx)
            port = ctx.ports[name]
            if port_open(port):
                raise LocalCloudError(
                    f"port {HOST}:{port} is already in use by a process localcloud did not start "
                    f"(state dir {ctx.state}); stop it or set {PORT_VARS[name]}"
                )
            pid = svc.start(ctx)
        except LocalCloudError as exc:
            failures.append(str(_fail_service(ctx, svc, f"start failed: {exc}")))
            continue
        ctx.pid_file(name).write_text(f"{pid}\n")
        started.append(name)
        pending[name] = pid
    write_endpoints(ctx)
    for name, pid in pending.items():  # all were started above: their start-ups overlap
        svc = SERVICES[name]
        ok, detail = _wait_healthy(ctx, svc, pid)
        if not ok:
            failures.append(str(_fail_service(ctx, svc, f"did not become healthy: {detail}")))
            svc.stop(ctx, pid)
            ctx.pid_file(name).unlink(missing_ok=True)
            started.remove(name)
            continue
        print(f"{name:<12} started  pid {pid:<8} {svc.endpoint_text(ctx)}  [{detail}]")
    for name, (pid, detail) in reused.items():
        print(f"{name:<12} reused   pid {pid:<8} {SERVICES[name].endpoint_text(ctx)}  [{detail}]")
    if failures:
        raise LocalCloudError("\n".join(failures))
    print(f"endpoints: {ctx.endpoints_file}")


def down(ctx: Ctx, names: list[str], purge: bool = False, quiet: bool = False) -> None:
    for name in reversed(names):
        svc = SERVICES[name]
        pid = svc.current_pid(ctx)
        if pid:
            svc.stop(ctx, pid)
            if not quiet:
                print(f"{name:<12} stopped  pid {pid}")
        elif not quiet:
            print(f"{name:<12} not running")
        ctx.pid_file(name).unlink(missing_ok=True)
        if purge:
            svc.purge(ctx)
            if not quiet:
                print(f"{name:<12} purged")
    if purge and set(ALL_SERVICES) <= set(names):
        shutil.rmtree(ctx.state, ignore_errors=True)


def status(ctx: Ctx, names: list[str]) -> int:
    all_up = True
    for name in names:
        svc = SERVICES[name]
        pid = svc.current_pid(ctx)
        ok, detail = svc.health(ctx) if ctx.state.exists() else (False, "no state dir")
        if ok and not pid:
            detail += "; WARNING: answered but not started by this state dir"
        all_up = all_up and ok and bool(pid)
        state = "up" if ok and pid else "down"
        detail = " ".join(detail.split())
        print(f"{name:<12} {state:<5} pid {pid or '-':<8} {svc.endpoint_text(ctx)}  [{detail}]")
    print(f"state dir: {ctx.state}")
    return 0 if all_up else EXIT_NOT_ALL_UP


def print_env(ctx: Ctx) -> None:
    for key, value in ctx.env_vars().items():
        print(f"export {key}={shlex.quote(value)}")


def run(ctx: Ctx, names: list[str], cmd: list[str]) -> int:
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise LocalCloudError("usage: ctl.py run [--services ...] -- CMD [ARGS...]")
    started: list[str] = []
    child: subprocess.Popen[bytes] | None = None
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        if child is not None and child.poll() is None:
            if signum != signal.SIGINT:  # a terminal's Ctrl-C already reaches CMD (same process group)
                child.send_signal(signum)
        else:
            raise KeyboardInterrupt

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    rc = 1
    # Optional services (the fault proxy) that CMD starts itself with `ctl.py up` are stopped with the rest.
    optional_before = {n for n in OPTIONAL_SERVICES if SERVICES[n].current_pid(ctx)}
    try:
        with ctx.lock():
            up(ctx, names, started)
        env = dict(os.environ, **ctx.env_vars())
        child = subprocess.Popen(cmd, env=env)
        rc = child.wait()
        if rc < 0:
            rc = 128 - rc
    except KeyboardInterrupt:
        rc = 128 + (received[-1] if received else signal.SIGINT)
        print("localcloud: interrupted", file=sys.stderr)
    except LocalCloudError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        rc = 1
    except FileNotFoundError as exc:
        print(f"localcloud: cannot run {cmd[0]!r}: {exc}", file=sys.stderr)
        rc = 127
    finally:
        for s in old:  # finish the cleanup even if interrupted again
            signal.signal(s, signal.SIG_IGN)
        if child is not None and child.poll() is None:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(STOP_TIMEOUT)
        started += [n for n in OPTIONAL_SERVICES if n not in optional_before and SERVICES[n].current_pid(ctx)]
        if started:
            with ctx.lock():
                down(ctx, [n for n in ALL_SERVICES + OPTIONAL_SERVICES if n in started])
        for s, handler in old.items():
            signal.signal(s, handler)
    return rc


# --------------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------------


def _maybe_reexec_in_venv() -> None:
    """`python3 localcloud/ctl.py ...` with a system Python: re-run with the repo's venv, which has the clients."""
    try:
        import boto3  # noqa: F401
        import confluent_kafka  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        venv_python = REPO / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable).absolute() != venv_python.absolute():
            argv = [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]]
            os.execv(argv[0], argv)  # noqa: S606
        raise LocalCloudError("boto3/psycopg/confluent-kafka not importable: use the repo venv (make venv)") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ctl.py", description="Local cloud controller (see localcloud/README.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    svc_help = (f"comma-separated subset of {','.join(ALL_SERVICES + OPTIONAL_SERVICES)} (default: "
                f"{','.join(ALL_SERVICES)}; faults = the fault-injecting proxy, only on request)")
    p_up = sub.add_parser("up", help="start missing services, reuse running ones")
    p_up.add_argument("--services", help=svc_help)
    p_down = sub.add_parser("down", help="stop the services started by `up`")
    p_down.add_argument("--services", help=svc_help)
    p_down.add_argument("--purge", action="store_true", help="also delete their data")
    p_status = sub.add_parser("status", help="health of each service (exit 3 unless all are up)")
    p_status.add_argument("--services", help=svc_help)
    sub.add_parser("env", help="print `export VAR=...` lines for eval")
    p_run = sub.add_parser("run", help="up, run CMD with the env exported, stop what this invocation started")
    p_run.add_argument("--services", help=svc_help)
    p_run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    try:
        ctx = Ctx()
        if args.command == "env":
            print_env(ctx)
            return 0
        _maybe_reexec_in_venv()
        names = parse_services(getattr(args, "services", None))
        if args.command == "down" and not args.services:  # a plain `down` also stops the proxy if it runs
            names = [*OPTIONAL_SERVICES, *names]
        if args.command == "up":
            with ctx.lock():
                up(ctx, names, [])
            return 0
        if args.command == "down":
            if not ctx.state.exists():
                print(f"nothing to do: {ctx.state} does not exist")
                return 0
            with ctx.lock():
                down(ctx, names, purge=args.purge)
            return 0
        if args.command == "status":
            return status(ctx, names)
        if args.command == "run":
            return run(ctx, names, args.cmd)
    except LocalCloudError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("localcloud: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
