//! Appending to a resumable upload (`PATCH`, and the body of a creation) through the kit's
//! [`packages_api::resumable`], and publishing the file when the last byte arrives. With
//! `Upload-Checksum` the chunk counts only whole and with that checksum.

use packages_core::{PackageType, StorageError};
use packages_db::{FileDetails, ResumableUpload};

use super::headers::{Checksum, ChunkHasher};
use super::{App, NOT_FOUND};
use packages_api::error::{ApiError, ApiResult};
use packages_api::resumable::{self, ChunkCheck};
use packages_api::state::AppState;
use packages_api::upload::{record_stored, UploadPlan};
use packages_api::write_mode::WriteMode;

pub use packages_api::resumable::{BUSY, PAST_LENGTH};

/// A client's `Upload-Checksum` over the chunk it sends.
struct ChecksumCheck {
    checksum: Checksum,
    hasher: ChunkHasher,
}

impl ChunkCheck for ChecksumCheck {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    fn verify(self: Box<Self>) -> ApiResult<()> {
        let ChecksumCheck { checksum, hasher } = *self;
        if checksum.matches(hasher) {
            Ok(())
        } else {
            Err(ApiError::ChecksumMismatch)
        }
    }
}

/// Appends `body` to `upload` at `offset`; returns the new offset. When the upload is then
/// complete, its file is published before this returns.
pub async fn append<S>(
    app: App,
    upload: ResumableUpload,
    offset: u64,
    checksum: Option<Checksum>,
    body: S,
) -> ApiResult<u64>
where
    S: futures_util::Stream<Item = ApiResult<actix_web::web::Bytes>> + Unpin,
{
    let check = checksum.map(|checksum| {
        let hasher = checksum.hasher();
        Box::new(ChecksumCheck { checksum, hasher }) as Box<dyn ChunkCheck>
    });
    let options = resumable::AppendOptions {
        check,
        on_complete: Some(Box::new(publish)),
        missing: ApiError::NotFound(NOT_FOUND),
        // The row's metadata is the client's Upload-Metadata.
        record_digests: false,
    };
    resumable::append(app, upload, offset, options, body).await
}

/// Publishes a complete upload whose lease `token` holds, exactly as a `PUT` of the same
/// content would: digests in one streaming pass over the stored content, the same rows, 409
/// when the file appeared meanwhile. The upload is over afterwards, whatever the outcome.
fn publish(app: &AppState, upload: &ResumableUpload, token: &str) -> ApiResult<()> {
    let mut digests = None;
    let finished = app.store.resumable_finish(
        &upload.id,
        &upload.store_state,
        upload.upload_length as u64,
        &mut |reader| {
            let d = packages_storage::ingest::digest_parallel(reader).map_err(StorageError::Io)?;
            let sha256 = d.sha256.clone();
            digests = Some(d);
            Ok(sha256)
        },
    );
    let (stored, digests) = match (finished, digests) {
        (Ok(stored), Some(digests)) => (stored, digests),
        (Err(e), _) => {
            if let Err(r) = resumable::remove(app, upload, token) {
                log::warn!("could not remove a failed upload: {r}");
            }
            return Err(e.into());
        }
        (Ok(_), None) => return Err(ApiError::internal("completed without digests")),
    };
    if let Err(e) = app.db.delete_resumable(&upload.id, token) {
        // The content is in place; a row left behind only expires.
        log::warn!("could not delete a completed upload's row: {e}");
    }
    let plan = UploadPlan {
        owner_id: upload.owner_id,
        creator_id: upload.creator_id,
        exempt_from_limits: upload.exempt_from_limits,
        package_type: PackageType::Generic,
        details: FileDetails::plain(&upload.package_name),
        name: upload.package_name.clone(),
        version: upload.package_version.clone(),
        file_name: upload.file_name.clone(),
        body_limit: None,
        claimed: Vec::new(),
        mode: WriteMode::Create,
    };
    record_stored(app, plan, stored, digests).map(drop)
}
