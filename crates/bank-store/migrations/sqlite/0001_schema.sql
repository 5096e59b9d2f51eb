-- bank schema, SQLite. Keep in step with ../postgres/0001_schema.sql: same tables, columns,
-- indexes and rules; only the dialect differs. Times are Unix milliseconds (BIGINT) in both,
-- so comparisons behave the same and the engine's injected clock is the only clock.

CREATE TABLE bank_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE bank_transactions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    reference        TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL CHECK (status IN ('commande','attente','ok','echec','abandon','rembourse')),
    version          BIGINT  NOT NULL DEFAULT 0,
    amount_minor     BIGINT  NOT NULL CHECK (amount_minor >= 0),
    currency         TEXT    NOT NULL,
    amount_ht_minor  BIGINT  CHECK (amount_ht_minor >= 0),
    refunded_minor   BIGINT  NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    refund_pending_minor BIGINT NOT NULL DEFAULT 0 CHECK (refund_pending_minor >= 0),
    id_auteur        BIGINT,
    auteur_id        TEXT,
    auteur           TEXT,
    parrain          TEXT,
    tracking_id      BIGINT,
    champs           TEXT    NOT NULL DEFAULT '{}',
    billing          TEXT,
    recurring        BOOLEAN NOT NULL DEFAULT FALSE,
    parent_reference TEXT,
    mode             TEXT,
    authorisation    TEXT,
    subscription_id  TEXT,
    error_code       TEXT,
    error_message    TEXT,
    fingerprint      TEXT    NOT NULL,
    created_ms       BIGINT  NOT NULL,
    updated_ms       BIGINT  NOT NULL,
    paid_ms          BIGINT,
    -- Never refund more than was paid, counting refunds under way.
    CHECK (refunded_minor + refund_pending_minor <= amount_minor)
);
CREATE INDEX bank_tx_status ON bank_transactions (status, id);
CREATE INDEX bank_tx_mode ON bank_transactions (mode, id);
CREATE INDEX bank_tx_authorisation ON bank_transactions (authorisation);
CREATE INDEX bank_tx_created ON bank_transactions (created_ms);
CREATE INDEX bank_tx_recycle ON bank_transactions (fingerprint, status, created_ms);
CREATE INDEX bank_tx_parent ON bank_transactions (parent_reference);

CREATE TABLE bank_notifications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    instance       TEXT    NOT NULL,
    transaction_id BIGINT  REFERENCES bank_transactions (id),
    channel        TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    headers        TEXT    NOT NULL,
    query          TEXT    NOT NULL,
    body           BLOB    NOT NULL,
    received_ms    BIGINT  NOT NULL,
    verdict        TEXT    NOT NULL,
    reason         TEXT,
    event_id       TEXT,
    UNIQUE (instance, event_id)
);
CREATE INDEX bank_notif_tx ON bank_notifications (transaction_id);
CREATE INDEX bank_notif_verdict ON bank_notifications (verdict, id);

CREATE TABLE bank_history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id  BIGINT NOT NULL REFERENCES bank_transactions (id),
    at_ms           BIGINT NOT NULL,
    kind            TEXT   NOT NULL,
    from_status     TEXT,
    to_status       TEXT,
    instance        TEXT,
    notification_id BIGINT REFERENCES bank_notifications (id),
    detail          TEXT   NOT NULL
);
CREATE INDEX bank_history_tx ON bank_history (transaction_id, id);

CREATE TABLE bank_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id  BIGINT  NOT NULL REFERENCES bank_transactions (id),
    hooks           TEXT    NOT NULL, -- hook names in delivery order, comma-separated
    next_hook       INTEGER NOT NULL DEFAULT 0,
    key_prefix      TEXT    NOT NULL UNIQUE, -- <reference>:v<version>
    snapshot        TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_ms          BIGINT  NOT NULL,
    locked_until_ms BIGINT,
    claim_token     BIGINT,
    delivered_ms    BIGINT,
    dead            BOOLEAN NOT NULL DEFAULT FALSE,
    last_error      TEXT
);
CREATE INDEX bank_outbox_pending ON bank_outbox (due_ms, id) WHERE delivered_ms IS NULL AND NOT dead;
CREATE INDEX bank_outbox_tx_pending ON bank_outbox (transaction_id, id) WHERE delivered_ms IS NULL AND NOT dead;

-- History and raw notifications are evidence: append-only.
CREATE TRIGGER bank_history_no_update BEFORE UPDATE ON bank_history
BEGIN SELECT RAISE(ABORT, 'bank_history is append-only'); END;
CREATE TRIGGER bank_history_no_delete BEFORE DELETE ON bank_history
BEGIN SELECT RAISE(ABORT, 'bank_history is append-only'); END;
CREATE TRIGGER bank_notifications_no_update BEFORE UPDATE ON bank_notifications
BEGIN SELECT RAISE(ABORT, 'bank_notifications is append-only'); END;
CREATE TRIGGER bank_notifications_no_delete BEFORE DELETE ON bank_notifications
BEGIN SELECT RAISE(ABORT, 'bank_notifications is append-only'); END;
