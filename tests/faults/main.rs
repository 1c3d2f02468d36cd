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

mod aborts;
mod disk_full;
mod hostile;
mod kill;
mod slow;

use forge_e2e::Backend;

fn kill_during_uploads(backend: Backend) {
    kill::kill_during_uploads(backend);
}

fn disk_full(backend: Backend) {
    disk_full::disk_full(backend);
}

fn slow_clients(backend: Backend) {
    slow::slow_clients(backend);
}

fn abort_storm(backend: Backend) {
    aborts::abort_storm(backend);
}

fn hostile_input(backend: Backend) {
    hostile::hostile_input(backend);
}

forge_e2e::backends!(
    kill_during_uploads,
    abort_storm,
    hostile_input,
    disk_full,
    slow_clients
);

// The cases about stored content again with the content in an S3 bucket.
forge_e2e::s3_backend!(kill_during_uploads, abort_storm);
