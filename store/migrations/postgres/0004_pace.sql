-- One request budget per provider instance shared by every process on the store: the GCRA's
-- state (Unix microseconds): the next theoretical slot, the slot last handed out, and the end
-- of a pause a 429 asked for. Each slot taken is one atomic upsert of the instance's row.
CREATE TABLE pace (
    instance   TEXT PRIMARY KEY,
    next_us    BIGINT NOT NULL,
    slot_us    BIGINT NOT NULL,
    paused_us  BIGINT NOT NULL
);
