-- Time-series schema of one tenant, used by the alert processor (lambdas/alert_processor).
-- Template: every {schema} is replaced by the tenant's schema name as a double-quoted identifier
-- (e.g. "customer-123"); the name must match ^[a-z_][a-z0-9_-]{0,62}$ so it never needs escaping inside the
-- quotes or the string literals below. Idempotent: safe to apply on every converge. One TimescaleDB database
-- holds every shared-tier tenant, one schema each. The retention policy is set separately
-- (manufacturing.platform.timescale_retention, by the `databases` role).

CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}.machine_metrics (
    time       timestamptz NOT NULL,
    machine_id text NOT NULL,
    metric     text NOT NULL,
    value      double precision NOT NULL,
    unit       text
);

-- One-day chunks: with the default 30-day retention a tenant keeps about 30 chunks, retention drops whole
-- days, and a day of a 15-machine tenant at one reading per second per metric is a few million rows. Busy
-- dedicated tenants can shrink it with set_chunk_time_interval().
SELECT create_hypertable('{schema}.machine_metrics', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);

-- Serves "latest readings of a machine/metric" queries and makes a reading idempotent: the processor inserts
-- with ON CONFLICT DO NOTHING, so a redelivered reading is stored once.
CREATE UNIQUE INDEX IF NOT EXISTS machine_metrics_reading_key ON {schema}.machine_metrics (machine_id, metric, time DESC);
