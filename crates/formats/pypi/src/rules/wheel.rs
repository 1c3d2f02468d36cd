//! The core metadata of a wheel (`*.dist-info/METADATA`, PEP 658), found while the upload
//! streams past, so no copy of the wheel is read back and memory stays bounded.
//!
//! Wheels are zip archives. Their local file headers are walked in order; each entry's data
//! is skipped by its compressed size until the `METADATA` entry, which is collected and
//! inflated. An archive the walk cannot follow (sizes deferred to a data descriptor, zip64
//! sizes, a metadata file over [`MAX_METADATA`]) simply yields no metadata: the wheel is
//! still stored, it is only served without PEP 658 metadata.

/// Largest metadata kept, compressed or not.
pub const MAX_METADATA: usize = 1 << 20;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const HEADER_LEN: usize = 30;
const DEFERRED_SIZES: u16 = 0x0008;

#[derive(Debug)]
enum State {
    /// Reading a local header (fixed part, then name and extra field).
    Header,
    /// Skipping this many bytes of an entry's data.
    Skip(u64),
    /// Collecting this many compressed bytes of the metadata entry.
    Collect { left: usize, method: u16 },
    /// Nothing more to look at.
    Done,
}

/// Watches a wheel's bytes for its core metadata.
#[derive(Debug)]
pub struct MetadataTap {
    state: State,
    buf: Vec<u8>,
    found: Option<Vec<u8>>,
}

impl Default for MetadataTap {
    fn default() -> Self {
        MetadataTap::new()
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// True for `{something}.dist-info/METADATA` at the top of the archive.
fn is_metadata_entry(name: &[u8]) -> bool {
    match name.strip_suffix(b".dist-info/METADATA") {
        Some(dir) => !dir.is_empty() && !dir.contains(&b'/'),
        None => false,
    }
}

impl MetadataTap {
    pub fn new() -> Self {
        MetadataTap {
            state: State::Header,
            buf: Vec::new(),
            found: None,
        }
    }

    /// Looks at the next bytes of the wheel.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Done => return,
                State::Skip(left) => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    data = &data[n..];
                    if *left == 0 {
                        self.state = State::Header;
                    }
                }
                State::Collect { left, method } => {
                    let n = (*left).min(data.len());
                    self.buf.extend_from_slice(&data[..n]);
                    *left -= n;
                    data = &data[n..];
                    if *left == 0 {
                        let method = *method;
                        self.found = inflate(method, &self.buf);
                        self.buf = Vec::new();
                        self.state = State::Done;
                    }
                }
                State::Header => {
                    let need = if self.buf.len() < HEADER_LEN {
                        HEADER_LEN
                    } else {
                        HEADER_LEN + u16_at(&self.buf, 26) as usize + u16_at(&self.buf, 28) as usize
                    };
                    let n = (need - self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.buf.len() == HEADER_LEN && u32_at(&self.buf, 0) != LOCAL_HEADER {
                        // The central directory (or not a zip at all): the walk is over.
                        self.state = State::Done;
                    } else if self.buf.len() >= HEADER_LEN && self.buf.len() == full_len(&self.buf)
                    {
                        self.state = self.after_header();
                        self.buf.clear();
                    }
                }
            }
        }
    }

    /// What follows the complete local header in `buf`.
    fn after_header(&self) -> State {
        let b = &self.buf;
        let flags = u16_at(b, 6);
        let method = u16_at(b, 8);
        let compressed = u32_at(b, 18);
        let name = &b[HEADER_LEN..HEADER_LEN + u16_at(b, 26) as usize];
        if flags & DEFERRED_SIZES != 0 || compressed == u32::MAX {
            return State::Done;
        }
        if !is_metadata_entry(name) {
            return if compressed == 0 {
                State::Header
            } else {
                State::Skip(compressed.into())
            };
        }
        if compressed as usize > MAX_METADATA {
            return State::Done;
        }
        if compressed == 0 {
            return State::Collect { left: 0, method };
        }
        State::Collect {
            left: compressed as usize,
            method,
        }
    }

    /// The metadata, when the wheel had a readable one.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        if let State::Collect { left: 0, method } = self.state {
            self.found = inflate(method, &self.buf);
        }
        self.found
    }
}

fn full_len(header: &[u8]) -> usize {
    HEADER_LEN + u16_at(header, 26) as usize + u16_at(header, 28) as usize
}

fn inflate(method: u16, data: &[u8]) -> Option<Vec<u8>> {
    match method {
        0 => Some(data.to_vec()),
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_METADATA).ok(),
        _ => None,
    }
}

/// The first value of a header field (`Name`, `Version`, …) of core metadata.
pub fn metadata_field<'a>(metadata: &'a str, field: &str) -> Option<&'a str> {
    for line in metadata.lines() {
        if line.is_empty() {
            // The headers end at the first empty line; the description follows.
            return None;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.eq_ignore_ascii_case(field) {
                return Some(value.trim());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip entry with a local header; `deflate` compresses its data.
    fn entry(name: &str, data: &[u8], deflate: bool, flags: u16) -> Vec<u8> {
        let (method, body) = if deflate {
            (8u16, miniz_oxide::deflate::compress_to_vec(data, 6))
        } else {
            (0u16, data.to_vec())
        };
        let mut e = Vec::new();
        e.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        e.extend_from_slice(&20u16.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        e.extend_from_slice(&method.to_le_bytes());
        e.extend_from_slice(&[0; 8]); // time, date, crc
        e.extend_from_slice(&(body.len() as u32).to_le_bytes());
        e.extend_from_slice(&(data.len() as u32).to_le_bytes());
        e.extend_from_slice(&(name.len() as u16).to_le_bytes());
        e.extend_from_slice(&3u16.to_le_bytes());
        e.extend_from_slice(name.as_bytes());
        e.extend_from_slice(b"xyz");
        e.extend_from_slice(&body);
        e
    }

    fn wheel(flags: u16) -> Vec<u8> {
        let mut w = entry("pkg/__init__.py", &[b'#'; 5000], true, 0);
        w.extend(entry("pkg/data.bin", b"\x00\x01", false, 0));
        w.extend(entry(
            "pkg-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n\nText",
            true,
            flags,
        ));
        w.extend(entry("pkg-1.0.dist-info/RECORD", b"r", false, 0));
        w.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        w.extend_from_slice(&[0; 40]);
        w
    }

    #[test]
    fn finds_metadata_in_any_chunking() {
        let w = wheel(0);
        for chunk in [1, 2, 7, 30, 31, 64, 4096, w.len()] {
            let mut tap = MetadataTap::new();
            for part in w.chunks(chunk) {
                tap.feed(part);
            }
            let found = tap.finish().expect("metadata");
            let text = String::from_utf8(found).unwrap();
            assert!(
                text.starts_with("Metadata-Version: 2.1\nName: pkg"),
                "{chunk}"
            );
            assert_eq!(metadata_field(&text, "name"), Some("pkg"));
            assert_eq!(metadata_field(&text, "Version"), Some("1.0"));
            assert_eq!(metadata_field(&text, "Text"), None);
        }
    }

    #[test]
    fn gives_up_quietly() {
        let mut tap = MetadataTap::new();
        tap.feed(&wheel(DEFERRED_SIZES));
        assert_eq!(tap.finish(), None);
        let mut tap = MetadataTap::new();
        tap.feed(b"not a zip file at all, just some bytes that go on");
        assert_eq!(tap.finish(), None);
        let mut tap = MetadataTap::new();
        tap.feed(&wheel(0)[..100]);
        assert_eq!(tap.finish(), None);
        assert!(!is_metadata_entry(b"a/b.dist-info/METADATA"));
        assert!(!is_metadata_entry(b".dist-info/METADATA"));
        assert!(is_metadata_entry(b"x-1.dist-info/METADATA"));
    }
}
