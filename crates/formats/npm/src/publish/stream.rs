//! An incremental reader of npm's publish document, fed the request body chunk by chunk.
//!
//! The document is one JSON object whose `_attachments` member holds the tarball, base64
//! encoded, and can be far larger than everything else. Every other top-level member is kept
//! as raw JSON (within [`MAX_METADATA`] bytes in all) for `serde_json` to read at the end; the
//! tarball's `data` string (the first attachment that is not a `.sigstore` provenance bundle)
//! is decoded as it passes and handed out in pieces, so no more than one chunk of the tarball
//! is in memory at a time. Other attachments are skipped without being kept. Members may come
//! in any order.

use base64::Engine;

/// Most bytes of JSON kept outside the attachments: the manifest, readme and dist-tags.
pub const MAX_METADATA: usize = 16 << 20;
/// Longest member name or attachment name read.
const MAX_KEY: usize = 4096;

/// Why a publish document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// Not JSON of the expected shape; the text says where.
    Invalid(&'static str),
    /// The JSON outside the attachments passed [`MAX_METADATA`].
    MetadataTooLarge,
}

/// The tarball's attachment, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    /// Its name (npm: `{name}-{version}.tgz`).
    pub name: String,
    /// The `length` member, when given as a number.
    pub length: Option<u64>,
    /// Whether a `data` string was read.
    pub has_data: bool,
}

/// What the document held besides the tarball bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// Every top-level member but `_attachments`, as raw JSON, in order.
    pub members: Vec<(String, Vec<u8>)>,
    /// The tarball's attachment.
    pub attachment: Option<Attachment>,
    /// How many attachments there were in all.
    pub attachments: usize,
}

impl Document {
    /// The raw JSON of a top-level member.
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Where in the document the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the opening `{`.
    Start,
    /// Inside the top object, where a member name or `}` comes.
    TopKey {
        first: bool,
    },
    /// After a top-level member name, before `:`.
    TopColon,
    /// Before a top-level member's value.
    TopValue,
    /// After a top-level value, before `,` or `}`.
    TopNext,
    /// Inside `_attachments`, where an attachment name or `}` comes.
    AttachmentKey {
        first: bool,
    },
    AttachmentColon,
    /// Before an attachment's object.
    AttachmentValue,
    /// Inside an attachment object, where a member name or `}` comes.
    FieldKey {
        first: bool,
    },
    FieldColon,
    FieldValue,
    FieldNext,
    /// After an attachment, before `,` or `}` of `_attachments`.
    AttachmentNext,
    /// Inside the `data` string of the chosen attachment.
    Data {
        escape: bool,
    },
    /// After the closing `}`: only white space may follow.
    End,
}

/// What a string being read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFor {
    Top,
    Attachment,
    Field,
}

/// A raw JSON value being copied (or skipped) byte by byte.
#[derive(Debug, Default)]
struct Capture {
    depth: usize,
    in_string: bool,
    escape: bool,
    /// A number or literal is being read (it ends at the first delimiter).
    scalar: bool,
    started: bool,
}

/// Where a finished capture goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureFor {
    /// A top-level member's value.
    Member,
    /// An attachment field other than the chosen `data` (kept only for `length`).
    Field,
    /// A whole `_attachments` value that is not an object (`null`): dropped.
    Attachments,
}

/// The reader. Feed it the body with [`PublishReader::feed`], then call
/// [`PublishReader::finish`].
#[derive(Debug)]
pub struct PublishReader {
    at: At,
    /// A member or attachment name being read, raw, with what it is for.
    key: Option<(KeyFor, Vec<u8>, bool)>,
    /// The name of the member whose value comes next.
    member: String,
    /// The current attachment field's name.
    field: String,
    /// A raw value being read: its bytes (`None` when skipped) and what it is for.
    capture: Option<(Capture, Option<Vec<u8>>, CaptureFor)>,
    /// Base64 characters not yet decoded (fewer than four once a chunk is done).
    pending: Vec<u8>,
    /// Whether the chosen attachment's data ended with padding (no more may follow).
    data_done: bool,
    kept: usize,
    doc: Document,
    /// The attachment being read is the chosen (first) one.
    chosen: bool,
}

impl Default for PublishReader {
    fn default() -> Self {
        Self::new()
    }
}

fn invalid(what: &'static str) -> StreamError {
    StreamError::Invalid(what)
}

impl PublishReader {
    pub fn new() -> Self {
        PublishReader {
            at: At::Start,
            key: None,
            member: String::new(),
            field: String::new(),
            capture: None,
            pending: Vec::new(),
            data_done: false,
            kept: 0,
            doc: Document::default(),
            chosen: false,
        }
    }

    /// Reads one chunk of the body; appends the tarball bytes it held to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        let mut i = 0;
        while i < chunk.len() {
            if self.key.is_some() {
                i += self.read_key(&chunk[i..])?;
                continue;
            }
            if self.capture.is_some() {
                i += self.read_capture(&chunk[i..])?;
                continue;
            }
            if let At::Data { .. } = self.at {
                i += self.read_data(&chunk[i..], out)?;
                continue;
            }
            let b = chunk[i];
            i += 1;
            if b.is_ascii_whitespace() {
                continue;
            }
            self.structural(b)?;
        }
        Ok(())
    }

    /// The document, once the whole body was fed.
    pub fn finish(self) -> Result<Document, StreamError> {
        if self.at != At::End || self.key.is_some() || self.capture.is_some() {
            return Err(invalid("the JSON document ends early"));
        }
        Ok(self.doc)
    }

    /// Handles one byte outside strings and captured values.
    fn structural(&mut self, b: u8) -> Result<(), StreamError> {
        self.at = match (self.at, b) {
            (At::Start, b'{') => At::TopKey { first: true },
            (At::Start, _) => return Err(invalid("the body is not a JSON object")),
            (At::TopKey { .. }, b'"') => return self.start_key(KeyFor::Top),
            (At::TopKey { first: true }, b'}') => At::End,
            (At::TopColon, b':') => At::TopValue,
            (At::TopValue, _) => {
                if self.member == "_attachments" {
                    if b == b'{' {
                        At::AttachmentKey { first: true }
                    } else {
                        return self.start_capture(b, CaptureFor::Attachments);
                    }
                } else {
                    return self.start_capture(b, CaptureFor::Member);
                }
            }
            (At::TopNext, b',') => At::TopKey { first: false },
            (At::TopNext, b'}') => At::End,
            (At::AttachmentKey { .. }, b'"') => return self.start_key(KeyFor::Attachment),
            (At::AttachmentKey { first: true }, b'}') => At::TopNext,
            (At::AttachmentColon, b':') => At::AttachmentValue,
            (At::AttachmentValue, b'{') => At::FieldKey { first: true },
            (At::AttachmentValue, _) => return Err(invalid("an attachment is not an object")),
            (At::FieldKey { .. }, b'"') => return self.start_key(KeyFor::Field),
            (At::FieldKey { first: true }, b'}') => At::AttachmentNext,
            (At::FieldColon, b':') => At::FieldValue,
            (At::FieldValue, b'"') if self.chosen && self.field == "data" => {
                if self.doc.attachment.as_ref().is_some_and(|a| a.has_data) {
                    return Err(invalid("an attachment has two data members"));
                }
                if let Some(a) = self.doc.attachment.as_mut() {
                    a.has_data = true;
                }
                At::Data { escape: false }
            }
            (At::FieldValue, _) => return self.start_capture(b, CaptureFor::Field),
            (At::FieldNext, b',') => At::FieldKey { first: false },
            (At::FieldNext, b'}') => At::AttachmentNext,
            (At::AttachmentNext, b',') => At::AttachmentKey { first: false },
            (At::AttachmentNext, b'}') => At::TopNext,
            (At::End, _) => return Err(invalid("text after the JSON document")),
            _ => return Err(invalid("the body is not valid JSON")),
        };
        Ok(())
    }

    fn start_key(&mut self, what: KeyFor) -> Result<(), StreamError> {
        self.key = Some((what, Vec::new(), false));
        Ok(())
    }

    /// Reads a name up to its closing quote; answers how many bytes it took.
    fn read_key(&mut self, chunk: &[u8]) -> Result<usize, StreamError> {
        let Some((what, raw, escape)) = self.key.as_mut() else {
            return Ok(0);
        };
        for (n, &b) in chunk.iter().enumerate() {
            if *escape {
                *escape = false;
            } else if b == b'\\' {
                *escape = true;
            } else if b == b'"' {
                let what = *what;
                let mut quoted = Vec::with_capacity(raw.len() + 2);
                quoted.push(b'"');
                quoted.extend_from_slice(raw);
                quoted.push(b'"');
                let name: String = serde_json::from_slice(&quoted)
                    .map_err(|_| invalid("a member name is not a valid JSON string"))?;
                self.key = None;
                self.name_read(what, name)?;
                return Ok(n + 1);
            }
            if raw.len() >= MAX_KEY {
                return Err(invalid("a member name is too long"));
            }
            raw.push(b);
        }
        Ok(chunk.len())
    }

    fn name_read(&mut self, what: KeyFor, name: String) -> Result<(), StreamError> {
        self.at = match what {
            KeyFor::Top => {
                if self.doc.members.iter().any(|(n, _)| *n == name)
                    || (name == "_attachments" && self.doc.attachments > 0)
                {
                    return Err(invalid("a member appears twice in the document"));
                }
                self.member = name;
                At::TopColon
            }
            KeyFor::Attachment => {
                self.doc.attachments += 1;
                // npm may add a provenance bundle beside the tarball.
                self.chosen = self.doc.attachment.is_none() && !name.ends_with(".sigstore");
                if self.chosen {
                    self.doc.attachment = Some(Attachment {
                        name,
                        ..Attachment::default()
                    });
                }
                At::AttachmentColon
            }
            KeyFor::Field => {
                self.field = name;
                At::FieldColon
            }
        };
        Ok(())
    }

    fn start_capture(&mut self, first: u8, what: CaptureFor) -> Result<(), StreamError> {
        let keep = match what {
            CaptureFor::Member => true,
            CaptureFor::Field => self.chosen && self.field == "length",
            CaptureFor::Attachments => false,
        };
        self.capture = Some((Capture::default(), keep.then(Vec::new), what));
        // The first byte is read as part of the value.
        self.read_capture(&[first]).map(|_| ())
    }

    /// Copies a raw value until it ends; answers how many bytes it took. A number or
    /// literal ends at the byte after it, which is left for the caller.
    fn read_capture(&mut self, chunk: &[u8]) -> Result<usize, StreamError> {
        let Some((cap, buf, _)) = self.capture.as_mut() else {
            return Ok(0);
        };
        let mut done = None;
        for (n, &b) in chunk.iter().enumerate() {
            if !cap.started {
                cap.started = true;
                match b {
                    b'{' | b'[' => cap.depth = 1,
                    b'"' => cap.in_string = true,
                    b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => cap.scalar = true,
                    _ => return Err(invalid("the body is not valid JSON")),
                }
            } else if cap.scalar {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') {
                    // Still inside the number or literal.
                } else {
                    done = Some(n);
                    break;
                }
            } else if cap.in_string {
                if cap.escape {
                    cap.escape = false;
                } else if b == b'\\' {
                    cap.escape = true;
                } else if b == b'"' {
                    cap.in_string = false;
                    if cap.depth == 0 {
                        if let Some(buf) = buf.as_mut() {
                            buf.push(b);
                        }
                        done = Some(n + 1);
                        break;
                    }
                }
            } else {
                match b {
                    b'"' => cap.in_string = true,
                    b'{' | b'[' => cap.depth += 1,
                    b'}' | b']' => {
                        cap.depth -= 1;
                        if cap.depth == 0 {
                            if let Some(buf) = buf.as_mut() {
                                buf.push(b);
                            }
                            done = Some(n + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(buf) = buf.as_mut() {
                self.kept += 1;
                if self.kept > MAX_METADATA {
                    return Err(StreamError::MetadataTooLarge);
                }
                buf.push(b);
            }
        }
        let Some(used) = done else {
            return Ok(chunk.len());
        };
        let Some((_, buf, what)) = self.capture.take() else {
            return Ok(used);
        };
        match what {
            CaptureFor::Member => {
                let name = std::mem::take(&mut self.member);
                self.doc.members.push((name, buf.unwrap_or_default()));
                self.at = At::TopNext;
            }
            CaptureFor::Field => {
                if let (Some(buf), Some(a)) = (buf, self.doc.attachment.as_mut()) {
                    a.length = serde_json::from_slice::<u64>(&buf).ok();
                }
                self.at = At::FieldNext;
            }
            CaptureFor::Attachments => self.at = At::TopNext,
        }
        Ok(used)
    }

    /// Decodes the chosen attachment's base64 text up to its closing quote; answers how many
    /// bytes it took.
    fn read_data(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<usize, StreamError> {
        let At::Data { mut escape } = self.at else {
            return Ok(0);
        };
        let mut used = chunk.len();
        let mut closed = false;
        for (n, &b) in chunk.iter().enumerate() {
            if escape {
                escape = false;
                match b {
                    // An escaped slash is still a slash; escaped line breaks are wrapping.
                    b'/' => self.push_base64(b'/', out)?,
                    b'n' | b'r' => {}
                    _ => return Err(invalid("attachment data is not base64")),
                }
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                used = n + 1;
                closed = true;
                break;
            } else if matches!(b, b'\n' | b'\r') {
                // Line-wrapped base64.
            } else {
                self.push_base64(b, out)?;
            }
        }
        self.decode_pending(out, closed)?;
        self.at = if closed {
            At::FieldNext
        } else {
            At::Data { escape }
        };
        Ok(used)
    }

    fn push_base64(&mut self, b: u8, out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.data_done {
            return Err(invalid("attachment data is not base64"));
        }
        self.pending.push(b);
        // Decode in large groups; the tail of fewer than four characters waits.
        if self.pending.len() >= 64 * 1024 {
            self.decode_pending(out, false)?;
        }
        Ok(())
    }

    /// Decodes every complete group of four characters (all of them when `last`).
    fn decode_pending(&mut self, out: &mut Vec<u8>, last: bool) -> Result<(), StreamError> {
        let whole = if last {
            self.pending.len()
        } else {
            self.pending.len() / 4 * 4
        };
        if whole == 0 {
            return Ok(());
        }
        let group = &self.pending[..whole];
        if group.contains(&b'=') {
            // Padding ends the data: it may only close the last group.
            if !last && self.pending.len() > whole {
                return Err(invalid("attachment data is not base64"));
            }
            self.data_done = true;
        }
        base64::engine::general_purpose::STANDARD
            .decode_vec(group, out)
            .map_err(|_| invalid("attachment data is not base64"))?;
        self.pending.drain(..whole);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_in(body: &[u8], cuts: &[usize]) -> Result<(Document, Vec<u8>), StreamError> {
        let mut r = PublishReader::new();
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
            let cut = cut.clamp(at, body.len());
            r.feed(&body[at..cut], &mut out)?;
            at = cut;
        }
        Ok((r.finish()?, out))
    }

    fn body(tarball: &[u8]) -> Vec<u8> {
        let data = base64::engine::general_purpose::STANDARD.encode(tarball);
        serde_json::to_vec(&serde_json::json!({
            "_id": "@s/n",
            "name": "@s/n",
            "description": "quote \" and \\ and } inside",
            "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {"name": "@s/n", "version": "1.0.0", "list": [1, 2.5e3, true, null]}},
            "access": null,
            "_attachments": {
                "@s/n-1.0.0.tgz": {"content_type": "application/octet-stream", "data": data, "length": tarball.len()},
                "@s/n-1.0.0.sigstore": {"content_type": "x", "data": "c2tpcA==", "length": 4}
            }
        }))
        .unwrap()
    }

    #[test]
    fn reads_members_and_decodes_the_tarball_beside_a_provenance_bundle() {
        let tarball: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let (doc, out) = read_in(&body(&tarball), &[]).unwrap();
        assert_eq!(out, tarball);
        assert_eq!(doc.attachments, 2);
        let a = doc.attachment.clone().unwrap();
        assert_eq!(a.name, "@s/n-1.0.0.tgz");
        assert_eq!(a.length, Some(1000));
        assert!(a.has_data);
        let mut names: Vec<&str> = doc.members.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "_id",
                "access",
                "description",
                "dist-tags",
                "name",
                "versions"
            ]
        );
        let v: serde_json::Value = serde_json::from_slice(doc.member("versions").unwrap()).unwrap();
        assert_eq!(v["1.0.0"]["list"][1], 2500.0);
        let d: String = serde_json::from_slice(doc.member("description").unwrap()).unwrap();
        assert_eq!(d, "quote \" and \\ and } inside");
        assert_eq!(doc.member("access").unwrap(), b"null");
    }

    #[test]
    fn attachments_may_come_first_and_escaped_slashes_decode() {
        let tarball = [0xffu8, 0xfe, 0xfd, 0x3f, 0xff];
        let data = base64::engine::general_purpose::STANDARD.encode(tarball);
        assert!(data.contains('/'));
        let escaped = data.replace('/', "\\/");
        let text = format!(
            "{{ \"_attachments\" : {{ \"x.tgz\" : {{ \"data\" : \"{escaped}\" }} }} , \"name\":\"x\" }}\n"
        );
        let (doc, out) = read_in(text.as_bytes(), &[3, 20, 40]).unwrap();
        assert_eq!(out, tarball);
        assert_eq!(doc.member("name").unwrap(), b"\"x\"");
    }

    #[test]
    fn documents_without_attachments() {
        let (doc, out) = read_in(br#"{"name":"x","_attachments":{}}"#, &[]).unwrap();
        assert!(out.is_empty());
        assert_eq!(doc.attachments, 0);
        assert!(doc.attachment.is_none());
        let (doc, _) = read_in(br#"{"_attachments":null,"n":1}"#, &[]).unwrap();
        assert_eq!(doc.attachments, 0);
        assert_eq!(doc.member("n").unwrap(), b"1");
        let (doc, _) = read_in(b"{}", &[]).unwrap();
        assert!(doc.members.is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_publish_document() {
        for bad in [
            &b"not json"[..],
            b"[1]",
            b"{\"a\":1",
            b"{\"a\":1}x",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{,}",
            b"{\"a\":1,\"a\":2}",
            b"{\"_attachments\":{\"x\":{\"data\":\"@@@@\"}}}",
            b"{\"_attachments\":{\"x\":{\"data\":\"QQ==QQ==\"}}}",
            b"{\"_attachments\":{\"x\":1}}",
            b"",
        ] {
            assert!(
                read_in(bad, &[]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bounds_the_metadata() {
        let big = format!("{{\"readme\":\"{}\"}}", "a".repeat(MAX_METADATA + 1));
        assert_eq!(
            read_in(big.as_bytes(), &[]).unwrap_err(),
            StreamError::MetadataTooLarge
        );
        // The tarball does not count.
        let tarball = vec![7u8; MAX_METADATA + 10];
        let (_, out) = read_in(&body(&tarball), &[]).unwrap();
        assert_eq!(out.len(), tarball.len());
    }

    proptest! {
        #[test]
        fn any_split_reads_the_same(
            tarball in proptest::collection::vec(any::<u8>(), 0..300),
            mut cuts in proptest::collection::vec(0usize..2000, 0..12),
        ) {
            let text = body(&tarball);
            cuts.sort_unstable();
            let whole = read_in(&text, &[]).unwrap();
            let split = read_in(&text, &cuts).unwrap();
            prop_assert_eq!(&split, &whole);
            prop_assert_eq!(&split.1, &tarball);
        }
    }
}
