//! The fault suite: the real server under crashes, database outages, full disks, slow and
//! hostile clients, with the invariants checked afterwards. Every case starts what it needs
//! (server, data directory, its own PostgreSQL cluster where it stops the database) on
//! loopback and removes it at the end. Run with `make test-faults`; promises and figures
//! are in docs/RELIABILITY.md.

mod outage;
mod support;

#[test]
fn postgres_outage() {
    outage::postgres_outage();
}

#[test]
fn sqlite_locked() {
    outage::sqlite_locked();
}

#[test]
fn sqlite_unwritable() {
    outage::sqlite_unwritable();
}
