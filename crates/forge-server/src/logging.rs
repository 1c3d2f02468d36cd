//! Log output: readable text lines (the default) or one JSON object per line. Either way a
//! line written while a request is served carries that request's id.

use std::io::Write;

use env_logger::fmt::Formatter;
use log::kv::{Key, Value, VisitSource};
use log::Record;
use packages_api::request;

use crate::config::{LogConfig, LogFormat};

/// Installs the logger; `RUST_LOG`, when set, overrides the configured level.
pub fn init(config: &LogConfig) {
    let env = env_logger::Env::default().default_filter_or(config.level.clone());
    let mut builder = env_logger::Builder::from_env(env);
    match config.format {
        LogFormat::Text => builder.format(text_line),
        LogFormat::Json => builder.format(json_line),
    };
    let _ = builder.try_init();
}

/// The id of the request a line belongs to: given with the line, or the current request's.
fn request_id(record: &Record<'_>) -> Option<String> {
    record
        .key_values()
        .get(Key::from_str("request_id"))
        .map(|v| v.to_string())
        .or_else(request::current_id)
}

fn text_line(buf: &mut Formatter, record: &Record<'_>) -> std::io::Result<()> {
    let ts = buf.timestamp_millis();
    match request_id(record) {
        Some(id) => writeln!(
            buf,
            "{ts} {:<5} {} [{id}] {}",
            record.level(),
            record.target(),
            record.args()
        ),
        None => writeln!(
            buf,
            "{ts} {:<5} {} {}",
            record.level(),
            record.target(),
            record.args()
        ),
    }
}

fn json_line(buf: &mut Formatter, record: &Record<'_>) -> std::io::Result<()> {
    let mut line = serde_json::Map::new();
    line.insert("time".into(), buf.timestamp_millis().to_string().into());
    line.insert("level".into(), record.level().as_str().into());
    line.insert("target".into(), record.target().into());
    if let Some(name) = std::thread::current().name() {
        line.insert("thread".into(), name.into());
    }
    if let Some(id) = request_id(record) {
        line.insert("request_id".into(), id.into());
    }
    line.insert("message".into(), record.args().to_string().into());
    let mut fields = Fields(&mut line);
    let _ = record.key_values().visit(&mut fields);
    writeln!(buf, "{}", serde_json::Value::Object(line))
}

/// Structured fields of a line become members of its JSON object.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(f) = value.to_f64() {
            f.into()
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_owned(), json);
        Ok(())
    }
}
