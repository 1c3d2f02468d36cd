//! Resumable uploads as every format may keep them: ids, and the sweep of those that
//! expired. The protocol (tus) is the generic format's; the rows and the store's pending
//! area are shared.

use packages_core::clock::now_unix;
use packages_db::Lease;

/// 32 random hex digits: an upload id or a lease token.
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)?;
    Ok(hex::encode(id))
}

/// Removes uploads that expired, with their content; returns how many. Safe beside live
/// requests and other instances: each upload is removed under its lease. Blocking.
pub fn remove_expired(
    db: &packages_db::Database,
    store: &dyn packages_core::BlobStore,
) -> Result<u64, String> {
    let mut removed = 0;
    let now = now_unix();
    let mut last: Option<String> = None;
    loop {
        let batch = db.expired_resumables(now, 100).map_err(|e| e.to_string())?;
        if batch.is_empty() || batch.last().map(|u| &u.id) == last.as_ref() {
            return Ok(removed);
        }
        last = batch.last().map(|u| u.id.clone());
        for upload in &batch {
            let token = new_id().map_err(|e| e.to_string())?;
            let now_ms = packages_core::clock::now_ms();
            let until = now_ms + 60_000;
            let Lease::Taken(upload) = db
                .take_resumable_lease(&upload.id, None, &token, now_ms, until)
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            match store.resumable_abort(&upload.id, &upload.store_state) {
                Ok(()) => {
                    if db
                        .delete_resumable(&upload.id, &token)
                        .map_err(|e| e.to_string())?
                    {
                        removed += 1;
                    }
                }
                Err(e) => {
                    log::warn!("could not remove an expired upload's content: {e}");
                    let _ = db.release_resumable_lease(&upload.id, &token);
                }
            }
        }
        if batch.len() < 100 {
            return Ok(removed);
        }
    }
}
