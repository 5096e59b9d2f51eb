-- Named counters that providers draw from (Paybox Direct's NUMQUESTION, unique per site
-- and day). Incremented atomically; never reset, so a value is never handed out twice.
CREATE TABLE bank_counters (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL CHECK (value > 0)
);
