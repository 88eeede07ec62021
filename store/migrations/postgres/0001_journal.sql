-- The job journal: a submission is recorded before it is sent, under the key that makes it
-- idempotent (an Idempotency-Key, a client JobId), so a crash at any point is resumed by
-- reconciling with the vendor, never by a blind resubmit.
CREATE TABLE jobs (
    job_key     TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    digest      TEXT NOT NULL,
    source      TEXT NOT NULL,
    state       TEXT NOT NULL,
    handle      TEXT,
    status      TEXT,
    cost        BIGINT,
    claimed_by  TEXT,
    claimed_at  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_at);

-- Every status a job went through.
CREATE TABLE job_events (
    id       BIGSERIAL PRIMARY KEY,
    job_key  TEXT NOT NULL,
    status   TEXT NOT NULL,
    at       BIGINT NOT NULL
);

-- Outputs saved to disk.
CREATE TABLE outputs (
    job_key  TEXT NOT NULL,
    path     TEXT NOT NULL,
    size     BIGINT NOT NULL,
    PRIMARY KEY (job_key, path)
);

-- Webhook deliveries seen, across every instance sharing the store.
CREATE TABLE deliveries (
    provider  TEXT NOT NULL,
    job_id    TEXT NOT NULL,
    status    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (provider, job_id, status)
);

-- Failover cooldowns shared across instances.
CREATE TABLE cooldowns (
    member    TEXT PRIMARY KEY,
    until_ms  BIGINT NOT NULL
);
