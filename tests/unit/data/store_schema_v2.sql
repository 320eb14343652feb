-- A store written by cmsync before Alembic (the hand-rolled schema_version counter at 2: a
-- cursor, two account states and their stage totals), dumped with sqlite3's iterdump.
-- Kept as written: the pre-Alembic format no longer changes, so tables.py must not shape it.
BEGIN TRANSACTION;
CREATE TABLE account_link (
	customer_uuid VARCHAR NOT NULL, 
	account_id VARCHAR NOT NULL, 
	matched_by VARCHAR NOT NULL, 
	matched_at VARCHAR(32) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (customer_uuid), 
	UNIQUE (account_id)
);
CREATE TABLE account_state (
	customer_uuid VARCHAR NOT NULL, 
	lifecycle_state VARCHAR NOT NULL, 
	mrr_cents INTEGER NOT NULL, 
	arr_cents INTEGER NOT NULL, 
	currency VARCHAR, 
	"plan" VARCHAR, 
	status VARCHAR, 
	customer_since VARCHAR(32), 
	churn_risk VARCHAR, 
	last_activity_at VARCHAR(32), 
	memo TEXT NOT NULL, 
	revision INTEGER NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (customer_uuid)
);
INSERT INTO "account_state" VALUES('cus_1','active',5000,0,NULL,NULL,NULL,NULL,NULL,NULL,'{}',1,'2026-11-20T08:00:00.000000+00:00','2026-11-20T08:00:00.000000+00:00');
INSERT INTO "account_state" VALUES('cus_2','trial',0,0,NULL,NULL,NULL,NULL,NULL,NULL,'{}',1,'2026-11-20T08:00:00.000000+00:00','2026-11-20T08:00:00.000000+00:00');
CREATE TABLE api_budget (
	system VARCHAR NOT NULL, 
	used INTEGER NOT NULL, 
	max INTEGER NOT NULL, 
	share FLOAT NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (system)
);
CREATE TABLE applied_signal (
	customer_uuid VARCHAR NOT NULL, 
	signal_key VARCHAR NOT NULL, 
	applied_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (customer_uuid, signal_key)
)
 WITHOUT ROWID

;
CREATE TABLE audit (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	at VARCHAR(32) NOT NULL, 
	system VARCHAR NOT NULL, 
	object VARCHAR NOT NULL, 
	record_id VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	fields TEXT NOT NULL, 
	reason VARCHAR NOT NULL
);
CREATE TABLE command (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	kind VARCHAR NOT NULL, 
	target VARCHAR NOT NULL, 
	args TEXT NOT NULL, 
	status VARCHAR NOT NULL, 
	result VARCHAR, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	CONSTRAINT ck_status_known CHECK (status IN ('new', 'done', 'failed'))
);
CREATE TABLE cursor (
	name VARCHAR NOT NULL, 
	value VARCHAR NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "cursor" VALUES('activities','{"stamp": "2026-11-20T07:59:00+00:00"}','2026-11-20T08:00:00.000000+00:00');
CREATE TABLE heartbeat (
	id INTEGER NOT NULL, 
	pid INTEGER NOT NULL, 
	started_at VARCHAR(32) NOT NULL, 
	beat_at VARCHAR(32) NOT NULL, 
	stopped_at VARCHAR(32), 
	target VARCHAR NOT NULL, 
	beat_monotonic FLOAT, 
	boot_id VARCHAR, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_single_row CHECK (id = 1)
);
CREATE TABLE imported_deal (
	opportunity_id VARCHAR NOT NULL, 
	account_id VARCHAR NOT NULL, 
	customer_uuid VARCHAR NOT NULL, 
	invoice_uuid VARCHAR NOT NULL, 
	amount_in_cents INTEGER NOT NULL, 
	currency VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (opportunity_id), 
	CONSTRAINT ck_status_known CHECK (status IN ('live', 'unwound', 'voided', 'kept'))
);
CREATE TABLE job_run (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	job VARCHAR NOT NULL, 
	started_at VARCHAR(32) NOT NULL, 
	finished_at VARCHAR(32), 
	result VARCHAR, 
	detail VARCHAR NOT NULL, 
	duration_s FLOAT, 
	CONSTRAINT ck_result_known CHECK (result IS NULL OR result IN ('ok', 'error', 'skipped'))
);
CREATE TABLE last_written (
	object VARCHAR NOT NULL, 
	record_id VARCHAR NOT NULL, 
	field VARCHAR NOT NULL, 
	value TEXT NOT NULL, 
	written_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (object, record_id, field)
)
 WITHOUT ROWID

;
CREATE TABLE merged_key (
	idempotency_key VARCHAR NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (idempotency_key)
)
 WITHOUT ROWID

;
CREATE TABLE outbox (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	idempotency_key VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	target_system VARCHAR NOT NULL, 
	target_object VARCHAR NOT NULL, 
	target_key VARCHAR NOT NULL, 
	key_field VARCHAR, 
	payload TEXT NOT NULL, 
	reason VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at VARCHAR(32) NOT NULL, 
	last_error VARCHAR, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	CONSTRAINT ck_status_known CHECK (status IN ('pending', 'in_flight', 'done', 'dead', 'skipped')), 
	UNIQUE (idempotency_key)
);
CREATE TABLE pending_match (
	customer_uuid VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	first_seen_at VARCHAR(32) NOT NULL, 
	last_tried_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (customer_uuid)
);
CREATE TABLE quarantine (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	kind VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	record_key VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	candidates TEXT NOT NULL, 
	payload TEXT NOT NULL, 
	status VARCHAR NOT NULL, 
	resolution VARCHAR, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	CONSTRAINT ck_status_known CHECK (status IN ('open', 'resolved', 'skipped'))
);
CREATE TABLE schema_version (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_single_row CHECK (id = 1)
);
INSERT INTO "schema_version" VALUES(1,2,'2026-11-20T08:00:00.000000+00:00');
CREATE TABLE stage_total (
	lifecycle_state VARCHAR NOT NULL, 
	accounts INTEGER NOT NULL, 
	mrr_cents INTEGER NOT NULL, 
	PRIMARY KEY (lifecycle_state)
);
INSERT INTO "stage_total" VALUES('active',1,5000);
INSERT INTO "stage_total" VALUES('trial',1,0);
CREATE INDEX ix_pending_match_last_tried_at ON pending_match (last_tried_at);
CREATE UNIQUE INDEX ux_quarantine_open ON quarantine (record_key, kind, source) WHERE status = 'open';
CREATE INDEX ix_quarantine_status_id ON quarantine (status, id);
CREATE INDEX ix_outbox_status_id ON outbox (status, id, next_attempt_at);
CREATE INDEX ix_outbox_status_attempts ON outbox (status, attempts);
CREATE INDEX ix_outbox_target ON outbox (target_key, status);
CREATE INDEX ix_job_run_job_id ON job_run (job, id);
CREATE INDEX ix_job_run_started_at ON job_run (started_at);
CREATE INDEX ix_command_status_id ON command (status, id);
CREATE INDEX ix_audit_record ON audit (object, record_id, id);
CREATE INDEX ix_audit_at ON audit (at);
CREATE TRIGGER tr_stage_total_insert AFTER INSERT ON account_state BEGIN INSERT INTO stage_total (lifecycle_state, accounts, mrr_cents)
        VALUES (NEW.lifecycle_state, 1, NEW.mrr_cents)
        ON CONFLICT (lifecycle_state) DO UPDATE
        SET accounts = accounts + 1, mrr_cents = mrr_cents + excluded.mrr_cents; END;
CREATE TRIGGER tr_stage_total_delete AFTER DELETE ON account_state BEGIN UPDATE stage_total SET accounts = accounts - 1, mrr_cents = mrr_cents - OLD.mrr_cents
        WHERE lifecycle_state = OLD.lifecycle_state; END;
CREATE TRIGGER tr_stage_total_update AFTER UPDATE OF lifecycle_state, mrr_cents ON account_state WHEN OLD.lifecycle_state IS NOT NEW.lifecycle_state OR OLD.mrr_cents IS NOT NEW.mrr_cents BEGIN UPDATE stage_total SET accounts = accounts - 1, mrr_cents = mrr_cents - OLD.mrr_cents
        WHERE lifecycle_state = OLD.lifecycle_state; INSERT INTO stage_total (lifecycle_state, accounts, mrr_cents)
        VALUES (NEW.lifecycle_state, 1, NEW.mrr_cents)
        ON CONFLICT (lifecycle_state) DO UPDATE
        SET accounts = accounts + 1, mrr_cents = mrr_cents + excluded.mrr_cents; END;
DELETE FROM "sqlite_sequence";
COMMIT;
