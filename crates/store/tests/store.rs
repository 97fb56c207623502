//! The store's integration tests: ONE test binary (each file in tests/ would be another binary
//! to link). Every case runs on SQLite and on PostgreSQL (`TEST_DATABASE_URL`), each time on a
//! fresh database built by the real migrations.

mod cases;
