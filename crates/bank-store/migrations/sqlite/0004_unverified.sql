-- Requests that did not verify (bad signature, unknown instance): a budget per instance and
-- hour is stored, cut to a few kilobytes each; past it only this tally is kept (how many,
-- how many bytes, the digest of the last one). Strangers cannot grow the database faster
-- than (configured instances + 1) small rows an hour plus the budget.
CREATE TABLE bank_unverified (
    bucket      TEXT   NOT NULL, -- the configured instance, or '*' for every unknown one
    window_ms   BIGINT NOT NULL, -- start of the hour
    requests    BIGINT NOT NULL CHECK (requests > 0),
    bytes       BIGINT NOT NULL CHECK (bytes >= 0),
    last_digest TEXT   NOT NULL, -- SHA-256 of the last request counted
    PRIMARY KEY (bucket, window_ms)
);
-- Evidence stays append-only, except that an operator may prune rejected requests (they
-- changed nothing, and no history line can point at them: the foreign key refuses that).
DROP TRIGGER bank_notifications_no_delete;
CREATE TRIGGER bank_notifications_no_delete BEFORE DELETE ON bank_notifications
WHEN OLD.verdict <> 'rejected'
BEGIN SELECT RAISE(ABORT, 'bank_notifications is append-only: only rejected requests may be pruned'); END;
CREATE INDEX bank_notif_received ON bank_notifications (verdict, received_ms);
-- Deleting a notification checks the history's foreign key: without this index each
-- deleted row would scan the whole history.
CREATE INDEX bank_history_notification ON bank_history (notification_id);
