"""Versioned schema migrations.

Each migration is a list of portable SQL statements (DuckDB today, PostgreSQL later). The ``schema_version``
table records which have been applied; opening an older file applies the missing ones in order, each in its
own transaction. Never edit a published migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "registry, telemetry, quarantine",
        [
            """CREATE TABLE utilities (
                utility_id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                kind TEXT,              -- city, town, basin authority ...
                country TEXT,
                flow_units TEXT,        -- units of the source .inp file (CMH, GPM ...)
                source_file TEXT
            )""",
            """CREATE TABLE nodes (
                utility_id TEXT NOT NULL,
                node_id TEXT NOT NULL,
                node_type TEXT NOT NULL,   -- Junction, Reservoir, Tank
                x DOUBLE, y DOUBLE,
                elevation_m DOUBLE,
                base_demand_m3h DOUBLE,
                demand_pattern TEXT,
                zone_id TEXT,
                PRIMARY KEY (utility_id, node_id)
            )""",
            """CREATE TABLE links (
                utility_id TEXT NOT NULL,
                link_id TEXT NOT NULL,
                link_type TEXT NOT NULL,   -- Pipe, Pump, Valve
                start_node TEXT NOT NULL,
                end_node TEXT NOT NULL,
                length_m DOUBLE,
                diameter_m DOUBLE,
                roughness DOUBLE,
                zone_id TEXT,
                PRIMARY KEY (utility_id, link_id)
            )""",
            """CREATE TABLE patterns (
                utility_id TEXT NOT NULL,
                pattern_id TEXT NOT NULL,
                step_s INTEGER NOT NULL,
                position INTEGER NOT NULL,
                multiplier DOUBLE NOT NULL,
                PRIMARY KEY (utility_id, pattern_id, position)
            )""",
            """CREATE TABLE zones (
                utility_id TEXT NOT NULL,
                zone_id TEXT NOT NULL,
                name TEXT,
                PRIMARY KEY (utility_id, zone_id)
            )""",
            """CREATE TABLE zone_boundary_links (
                utility_id TEXT NOT NULL,
                zone_id TEXT NOT NULL,
                link_id TEXT NOT NULL,
                role TEXT NOT NULL,         -- inlet or outlet
                PRIMARY KEY (utility_id, zone_id, link_id)
            )""",
            """CREATE TABLE sensors (
                sensor_id TEXT PRIMARY KEY,
                utility_id TEXT NOT NULL,
                kind TEXT NOT NULL,         -- pressure, flow, level, volume, quality
                unit TEXT NOT NULL,         -- unit the device reports in when a reading names none
                node_id TEXT,
                link_id TEXT,
                zone_id TEXT,
                connection_id TEXT,         -- customer meters: the service connection
                customer_class TEXT,        -- residential, commercial, industrial, public ...
                billed BOOLEAN,             -- customer meters: billed or unbilled consumption
                description TEXT
            )""",
            # Readings are stored in the kind's canonical unit (m, m3/h, m, m3); ts is UTC.
            # (sensor_id, ts) is unique by construction: the ingest pipeline deduplicates under one writer.
            """CREATE TABLE readings (
                sensor_id TEXT NOT NULL,
                ts TIMESTAMP NOT NULL,
                value DOUBLE NOT NULL
            )""",
            """CREATE TABLE reading_conflicts (
                sensor_id TEXT NOT NULL,
                ts TIMESTAMP NOT NULL,
                stored_value DOUBLE NOT NULL,
                incoming_value DOUBLE NOT NULL,
                source TEXT NOT NULL,
                batch_id BIGINT NOT NULL
            )""",
            """CREATE TABLE quarantine (
                batch_id BIGINT NOT NULL,
                source TEXT NOT NULL,
                position BIGINT,            -- row or item number within the source (1-based data row)
                reason TEXT NOT NULL,
                detail TEXT,
                sensor_id TEXT,
                raw TEXT
            )""",
            """CREATE TABLE ingest_batches (
                batch_id BIGINT PRIMARY KEY,
                source TEXT NOT NULL,
                received_at TIMESTAMP NOT NULL,
                accepted BIGINT NOT NULL,
                duplicates BIGINT NOT NULL,
                conflicts BIGINT NOT NULL,
                quarantined BIGINT NOT NULL
            )""",
            """CREATE TABLE billing (
                utility_id TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                period_start DATE NOT NULL,
                period_end DATE NOT NULL,   -- inclusive
                volume_m3 DOUBLE NOT NULL,
                metered BOOLEAN NOT NULL,
                billed BOOLEAN NOT NULL,
                amount DOUBLE,              -- invoiced amount in local currency
                PRIMARY KEY (utility_id, connection_id, period_start)
            )""",
            """CREATE TABLE api_tokens (
                token_hash TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                scopes TEXT NOT NULL,       -- space-separated: ingest, read, admin
                created_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP
            )""",
        ],
    ),
    (
        2,
        "connections of customer meters",
        [
            """CREATE TABLE connections (
                utility_id TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                node_id TEXT,
                zone_id TEXT,
                customer_class TEXT,
                persons INTEGER,
                metered BOOLEAN NOT NULL,
                PRIMARY KEY (utility_id, connection_id)
            )""",
        ],
    ),
    (
        3,
        "one alarm model for leaks, sensor faults, drought and data quality",
        [
            """CREATE TABLE alarms (
                alarm_id BIGINT PRIMARY KEY,
                dedup_key TEXT NOT NULL UNIQUE,   -- the same condition raised again updates, never duplicates
                kind TEXT NOT NULL,               -- leak, sensor_fault, drought, data_quality
                severity TEXT NOT NULL,           -- info, warning, critical
                scope TEXT NOT NULL,              -- utility or basin id
                zone_id TEXT,
                start_ts TIMESTAMP,               -- when the condition began (UTC)
                raised_at TIMESTAMP NOT NULL,
                title TEXT NOT NULL,
                detail TEXT,                      -- JSON: candidates, estimated loss, evidence ...
                status TEXT NOT NULL,             -- open, acknowledged, closed
                acknowledged_by TEXT,
                acknowledged_at TIMESTAMP,
                closed_at TIMESTAMP
            )""",
        ],
    ),
    (
        4,
        "hash-chained ledgers in the database",
        [
            """CREATE TABLE ledger_entries (
                ledger TEXT NOT NULL,             -- e.g. allocation
                position BIGINT NOT NULL,         -- stored order; the chain itself is in the entry
                entry TEXT NOT NULL,              -- canonical JSON of the entry (index, prev_hash, content, hash)
                PRIMARY KEY (ledger, position)
            )""",
        ],
    ),
    (
        5,
        "users, sessions, token scopes and devices, sensor devices, utility basins",
        [
            """CREATE TABLE users (
                username VARCHAR PRIMARY KEY,
                password_hash VARCHAR,            -- argon2id (PHC string); NULL: OIDC login only
                role VARCHAR NOT NULL,            -- admin, operator, analyst, commission, auditor, viewer
                scope VARCHAR NOT NULL,           -- country, utility:<id> or basin:<name>
                locale VARCHAR NOT NULL,
                totp_secret VARCHAR,              -- base32 RFC 6238 secret; NULL: no second factor
                totp_last_step BIGINT,            -- last accepted TOTP time step (no replay, RFC 6238 5.2)
                disabled BOOLEAN NOT NULL,
                created_at TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE sessions (
                session_hash VARCHAR PRIMARY KEY, -- SHA-256 of the cookie's random id; the id itself is never stored
                username VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL,
                client VARCHAR
            )""",
            "ALTER TABLE api_tokens ADD COLUMN scope VARCHAR DEFAULT 'country'",
            "ALTER TABLE api_tokens ADD COLUMN device_id VARCHAR",  # a device token writes only its sensors
            "ALTER TABLE sensors ADD COLUMN device_id VARCHAR",     # the field device that reports the sensor
            "ALTER TABLE utilities ADD COLUMN basin VARCHAR",       # for basin:<name> scopes
        ],
    ),
    (
        6,
        "kept zone balances: daily and monthly, refreshed as data arrives",
        [
            """CREATE TABLE zone_balances (
                utility_id VARCHAR NOT NULL,
                zone_id VARCHAR NOT NULL,
                freq VARCHAR NOT NULL,            -- daily or monthly
                period_start TIMESTAMP NOT NULL,  -- UTC
                period_end TIMESTAMP NOT NULL,
                complete BOOLEAN NOT NULL,        -- data covers the whole calendar day or month
                result VARCHAR NOT NULL,          -- the zone_balances row as JSON
                PRIMARY KEY (utility_id, zone_id, freq, period_start)
            )""",
        ],
    ),
    (
        7,
        "utilities: when the network model's demand patterns begin",
        [
            "ALTER TABLE utilities ADD COLUMN model_start TIMESTAMP",  # UTC; a logger survey runs the model by it
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]
