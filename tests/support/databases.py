"""Connections to the local cloud's databases, from an endpoints.json dict (localcloud/ctl.py)."""

from __future__ import annotations

import psycopg


def pg_connect(endpoints, user=None, password=None, dbname="postgres"):
    """The local PostgreSQL over TLS (verify-full against the local CA); the admin unless user/password are given."""
    pg = endpoints["postgres"]
    return psycopg.connect(host=pg["host"], port=pg["port"], user=user or pg["user"],
                           password=password or pg["password"], dbname=dbname, sslmode="verify-full",
                           sslrootcert=pg["sslrootcert"], connect_timeout=10)


def tsdb_connect(endpoints, user=None, password=None):
    """The local TimescaleDB over TLS (verify-full against its CA; one session at a time: a generous timeout); the
    admin unless user/password are given."""
    ts = endpoints["timescaledb"]
    return psycopg.connect(host=ts["host"], port=ts["port"], user=user or ts["user"],
                           password=password or ts["password"], dbname=ts["dbname"],
                           sslmode=ts["sslmode"], sslrootcert=ts["sslrootcert"], connect_timeout=90)
