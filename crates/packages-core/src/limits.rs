//! Size and count limits with the reference registry's semantics: `-1` means none, `0` is a
//! real limit, and sizes may be written for humans (`1 GiB`, `500 MB`).

/// A limit on a size in bytes or on a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Limit {
    /// No limit.
    #[default]
    None,
    /// At most this many.
    AtMost(u64),
}

impl Limit {
    /// True when `value` is over the limit.
    pub fn exceeded_by(self, value: u64) -> bool {
        match self {
            Limit::None => false,
            Limit::AtMost(max) => value > max,
        }
    }

    /// Reads a plain integer count; negative means no limit.
    pub fn from_count(v: i64) -> Self {
        u64::try_from(v).map_or(Limit::None, Limit::AtMost)
    }
}

/// Written as an integer (`-1` for none); read from an integer or a size text such as
/// `"1 GiB"`, so configuration files and environment variables take the same forms.
impl serde::Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::None => serializer.serialize_i64(-1),
            Limit::AtMost(n) => serializer.serialize_u64(*n),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Limit;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("-1 for none, or a size such as 1000, \"500 MB\" or \"1 GiB\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                Ok(Limit::from_count(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit::AtMost(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit, E> {
                parse_size_limit(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The size text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a size: {0:?} (use -1 for none, or a size such as 1000, 500 MB or 1 GiB)")]
pub struct BadSize(pub String);

/// Parses a size limit: `-1` (or any negative number) for none, else bytes with an optional
/// SI (`kB`, `MB`, …, powers of 1000) or IEC (`KiB`, `MiB`, …, powers of 1024) unit.
pub fn parse_size_limit(text: &str) -> Result<Limit, BadSize> {
    let t = text.trim();
    let bad = || BadSize(text.to_owned());
    if let Some(rest) = t.strip_prefix('-') {
        return if !rest.is_empty() && rest.trim().bytes().all(|b| b.is_ascii_digit()) {
            Ok(Limit::None)
        } else {
            Err(bad())
        };
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000u64.pow(2),
        "g" | "gb" => 1000u64.pow(3),
        "t" | "tb" => 1000u64.pow(4),
        "p" | "pb" => 1000u64.pow(5),
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        "pi" | "pib" => 1 << 50,
        _ => return Err(bad()),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Limit::AtMost(bytes as u64))
}

/// Package limits with the reference registry's semantics; site admins are exempt. Read
/// from the `[limits]` section of the configuration: `size_<type>` for each registered
/// format (`FORGE_LIMIT_SIZE_<TYPE>`), `total_owner_size` and `total_owner_count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Largest single file, by format type name; a format without an entry has no limit.
    sizes: std::collections::BTreeMap<String, Limit>,
    /// Largest total size of an owner's files.
    pub total_owner_size: Limit,
    /// Most versions an owner may have.
    pub total_owner_count: Limit,
}

/// The configuration key prefix of a format's size limit.
const SIZE_PREFIX: &str = "size_";

impl Limits {
    /// No limits, with a `size_<type>` setting for each of these formats.
    pub fn for_types<'a>(types: impl IntoIterator<Item = &'a str>) -> Self {
        Limits {
            sizes: types
                .into_iter()
                .map(|t| (t.to_owned(), Limit::None))
                .collect(),
            ..Limits::default()
        }
    }

    /// The largest single file of the given format.
    pub fn size_of(&self, package_type: crate::PackageType) -> Limit {
        self.sizes
            .get(package_type.as_str())
            .copied()
            .unwrap_or(Limit::None)
    }

    /// Sets the largest single file of the given format.
    pub fn set_size(&mut self, package_type: crate::PackageType, limit: Limit) {
        self.sizes.insert(package_type.as_str().to_owned(), limit);
    }

    /// The type names that have a size setting.
    pub fn size_types(&self) -> impl Iterator<Item = &str> {
        self.sizes.keys().map(String::as_str)
    }
}

impl serde::Serialize for Limits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.sizes.len() + 2))?;
        for (name, limit) in &self.sizes {
            map.serialize_entry(&format!("{SIZE_PREFIX}{name}"), limit)?;
        }
        map.serialize_entry("total_owner_size", &self.total_owner_size)?;
        map.serialize_entry("total_owner_count", &self.total_owner_count)?;
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Limits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Limits;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of limits")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Limits, A::Error> {
                const FIELDS: &[&str] = &["size_<type>", "total_owner_size", "total_owner_count"];
                let mut limits = Limits::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "total_owner_size" => limits.total_owner_size = map.next_value()?,
                        "total_owner_count" => limits.total_owner_count = map.next_value()?,
                        other => match other.strip_prefix(SIZE_PREFIX) {
                            Some(name) if !name.is_empty() => {
                                limits.sizes.insert(name.to_owned(), map.next_value()?);
                            }
                            _ => return Err(serde::de::Error::unknown_field(other, FIELDS)),
                        },
                    }
                }
                Ok(limits)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_limit("-1"), Ok(Limit::None));
        assert_eq!(parse_size_limit("0"), Ok(Limit::AtMost(0)));
        assert_eq!(parse_size_limit("1000"), Ok(Limit::AtMost(1000)));
        assert_eq!(parse_size_limit("1 GiB"), Ok(Limit::AtMost(1 << 30)));
        assert_eq!(parse_size_limit("500 MB"), Ok(Limit::AtMost(500_000_000)));
        assert_eq!(parse_size_limit("1.5kib"), Ok(Limit::AtMost(1536)));
        assert!(parse_size_limit("lots").is_err());
        assert!(parse_size_limit("1 XB").is_err());
    }

    #[test]
    fn exceeded() {
        assert!(!Limit::None.exceeded_by(u64::MAX));
        assert!(Limit::AtMost(0).exceeded_by(1));
        assert!(!Limit::AtMost(0).exceeded_by(0));
        assert_eq!(Limit::from_count(-1), Limit::None);
        assert_eq!(Limit::from_count(0), Limit::AtMost(0));
    }
}
