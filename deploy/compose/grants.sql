-- The runtime role's rights: the block from docs/postgresql.md (tests/test_deploy.py keeps them equal).
-- Run as the owner after every `kukey db upgrade` (the compose file's `grants` service does).
-- kukey runtime role: read and write the workflow tables; append to the audit log and read it;
-- re-wrap retired audit keys (kukey rekey); read the schema revision. Nothing else.
GRANT CONNECT ON DATABASE kukey TO kukey_app;
GRANT USAGE ON SCHEMA public TO kukey_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kukey_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO kukey_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM kukey_app;
REVOKE DELETE, TRUNCATE ON audit_key FROM kukey_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM kukey_app;
