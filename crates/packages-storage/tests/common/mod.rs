//! What the store's integration tests share.

/// `len` deterministic bytes from `seed` (xorshift), different at every offset the tests cut
/// at: content that comes back shifted, repeated or reordered does not compare equal.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
