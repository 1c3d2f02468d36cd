//! Reading the properties formats keep beside packages, versions and files.

use diesel::prelude::*;

use crate::error::DbError;
use crate::models::PropertyOf;
use crate::pool::Database;
use crate::schema::package_property;

impl Database {
    /// The `(ref_id, name, value)` of every property of the given scope of the given ids,
    /// in insertion order.
    pub fn properties(
        &self,
        of: PropertyOf,
        ref_ids: &[i64],
    ) -> Result<Vec<(i64, String, String)>, DbError> {
        self.properties_named(of, ref_ids, None)
    }

    /// [`Database::properties`], only those called `name` when one is given.
    pub fn properties_named(
        &self,
        of: PropertyOf,
        ref_ids: &[i64],
        name: Option<&str>,
    ) -> Result<Vec<(i64, String, String)>, DbError> {
        if ref_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut rows = Vec::new();
            // Bounded chunks keep the statement within every backend's parameter limit.
            for chunk in ref_ids.chunks(500) {
                let part: Vec<(i64, String, String)> = run!(c, |c| {
                    let mut q = package_property::table
                        .filter(package_property::ref_type.eq(of.ref_type()))
                        .filter(package_property::ref_id.eq_any(chunk))
                        .into_boxed();
                    if let Some(name) = name {
                        q = q.filter(package_property::name.eq(name));
                    }
                    q.order(package_property::id)
                        .select((
                            package_property::ref_id,
                            package_property::name,
                            package_property::value,
                        ))
                        .load(c)
                })?;
                rows.extend(part);
            }
            Ok(rows)
        })
    }
}
