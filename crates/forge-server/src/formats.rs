//! The package formats this server serves: the one list. A format is a crate of its own
//! under `crates/formats/`; adding one is adding its line here (docs/ADDING-A-FORMAT.md).

use packages_api::{Format, Formats};

/// Every format of the production server, in display order.
pub fn production() -> Formats {
    let list: [&'static dyn Format; 5] = [
        &format_generic::Generic,
        &format_pypi::Pypi,
        &format_container::Container,
        &format_npm::Npm,
        &format_cargo::Cargo,
    ];
    Formats::new(list)
}
