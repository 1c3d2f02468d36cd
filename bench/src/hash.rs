//! The 4-digest hashing rate of this machine, measured with the project's own hashing code so
//! that the large-upload figure can be compared with what the CPU allows.

use std::error::Error;
use std::time::Instant;

use packages_core::MultiHasher;
use packages_storage::{hash_lanes, hash_rate_probe};

/// Chunk size fed to the serial hasher: the size the upload pipeline reads in, so both rates
/// see the same call pattern.
const CHUNK: usize = 256 << 10;

/// Hashing rates in MiB/s.
#[derive(Debug, Clone, Copy)]
pub struct HashRates {
    /// One thread computing MD5, SHA-1, SHA-256 and SHA-512 ([`MultiHasher`]).
    pub serial: f64,
    /// The upload pipeline's split over its threads ([`hash_rate_probe`]).
    pub parallel: f64,
    /// How many threads that split uses here ([`hash_lanes`]).
    pub lanes: usize,
}

/// Hashes `bytes` bytes of in-memory data once serially and once with the upload pipeline.
pub fn measure(bytes: usize) -> Result<HashRates, Box<dyn Error>> {
    // Not all zeroes, so that no hasher could take a shortcut.
    let data: Vec<u8> = (0..bytes)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8)
        .collect();
    let start = Instant::now();
    let mut hasher = MultiHasher::new();
    for chunk in data.chunks(CHUNK) {
        hasher.update(chunk);
    }
    let serial_digests = hasher.finalize();
    let serial = mib_per_s(bytes, start.elapsed().as_secs_f64());
    drop(data);

    let (parallel_digests, took) = hash_rate_probe(bytes)?;
    if parallel_digests.size != serial_digests.size {
        return Err(format!(
            "hash probe hashed {} bytes, expected {}",
            parallel_digests.size, serial_digests.size
        )
        .into());
    }
    let parallel = mib_per_s(bytes, took.as_secs_f64());
    Ok(HashRates {
        serial,
        parallel,
        lanes: hash_lanes(),
    })
}

fn mib_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9)
}
