"""Auth tables: API tokens, sign-in sessions and pending sign-ins (see core/auth/models.py).

Secrets are never stored: tokens and session cookies are kept as their SHA-256 (hex).
"""

import peewee as pw


def _statements(sqlite):
    ts = "DATETIME" if sqlite else "TIMESTAMP"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if sqlite else "SERIAL PRIMARY KEY"
    return [
        f"""CREATE TABLE auth_tokens (
            id {serial},
            name VARCHAR(100) NOT NULL UNIQUE,
            token_hash CHAR(64) NOT NULL UNIQUE,
            role VARCHAR(20) NOT NULL CHECK (role IN ('reader', 'editor')),
            created_at {ts} NOT NULL,
            last_used_at {ts} NULL,
            expires_at {ts} NULL)""",
        f"""CREATE TABLE auth_sessions (
            id {serial},
            key_hash CHAR(64) NOT NULL UNIQUE,
            subject VARCHAR(255) NOT NULL,
            name VARCHAR(255) NULL,
            email VARCHAR(255) NULL,
            roles VARCHAR(255) NOT NULL,
            id_token TEXT NULL,
            refresh_token TEXT NULL,
            token_expires_at {ts} NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL)""",
        "CREATE INDEX auth_sessions_expires_at ON auth_sessions (expires_at)",
        f"""CREATE TABLE auth_login_states (
            id {serial},
            state_hash CHAR(64) NOT NULL UNIQUE,
            nonce VARCHAR(255) NOT NULL,
            code_verifier VARCHAR(255) NOT NULL,
            redirect_uri VARCHAR(2000) NOT NULL,
            redirect_to VARCHAR(2000) NOT NULL,
            expires_at {ts} NOT NULL)""",
        "CREATE INDEX auth_login_states_expires_at ON auth_login_states (expires_at)",
    ]


def _is_sqlite(database):
    db = database.obj if isinstance(database, pw.DatabaseProxy) else database
    return isinstance(db, pw.SqliteDatabase)


def migrate(migrator, database, fake=False, **kwargs):
    for sql in _statements(_is_sqlite(database)):
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    for table in ("auth_login_states", "auth_sessions", "auth_tokens"):
        migrator.sql(f"DROP TABLE {table}")
