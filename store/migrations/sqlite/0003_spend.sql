-- Spend budgets shared across instances: per provider instance and period (2026-12, 2026-W49,
-- 2026-12-06), the units spent or held. A submit first reserves what it is expected to cost
-- with one conditional update (never past the cap, whichever instance asks), then settles the
-- reservation with what the job cost.
CREATE TABLE spend (
    member  TEXT NOT NULL,
    period  TEXT NOT NULL,
    total   BIGINT NOT NULL,
    PRIMARY KEY (member, period)
);

CREATE TABLE reservations (
    id          TEXT PRIMARY KEY,
    member      TEXT NOT NULL,
    period      TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    settled     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);
