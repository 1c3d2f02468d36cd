//! `GET /{owner}/-/packages/{type}/{name}/{version}`: a version's files with their digests,
//! commands to fetch and verify them, and the package's other versions.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use packages_core::AccessMode;
use packages_db::{PackageBlob, PackageFile, Page, User, VersionFilter, VersionListing};

use super::layout::{
    copy_block, format_size, format_time, hidden, machine_time, page, query_escape, respond, seg,
    PageResult,
};
use super::session::{RequestCookies, Viewer};
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::formats::Format;
use packages_api::state::AppState;
use packages_api::urls::Site;
use packages_service::{access, packages};

/// Other versions listed on a version page.
const OTHER_VERSIONS: u64 = 50;

/// A version as a page shows it.
pub(super) struct VersionView {
    pub owner: User,
    pub format: &'static dyn Format,
    pub listing: VersionListing,
}

/// Resolves the owner (hidden when the viewer may not read it) and the version. Blocking.
pub(super) fn find(
    state: &AppState,
    viewer: &Viewer,
    owner: &str,
    ptype: &str,
    name: &str,
    version: &str,
) -> ApiResult<VersionView> {
    let access =
        access::authorize_owner(state, &viewer.auth, owner, AccessMode::Read).map_err(hidden)?;
    let format = state
        .formats
        .find(ptype)
        .ok_or(ApiError::NotFound("not found"))?;
    let listing = packages::find_version(state, access.owner.id, format, name, version)?
        .ok_or(ApiError::NotFound("not found"))?;
    Ok(VersionView {
        owner: access.owner,
        format,
        listing,
    })
}

/// The page address of a version.
pub(super) fn version_href(owner: &str, ptype: &str, name: &str, version: &str) -> String {
    format!(
        "/{}/-/packages/{}/{}/{}",
        seg(owner),
        seg(ptype),
        seg(name),
        seg(version)
    )
}

/// `GET /{owner}/-/packages/{type}/{name}/{version}`.
pub async fn page_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let site = Site::of(&req);
    let (owner, ptype, name, version) = path.into_inner();
    let state = state.into_inner();
    let (viewer, view, files, others, can_write) = blocking::run(move || {
        let viewer = Viewer::load(&state, &cookies)?;
        let view = find(&state, &viewer, &owner, &ptype, &name, &version)?;
        let files = state.db.version_files(view.listing.version.id)?;
        let filter = VersionFilter {
            package_type: Some(view.format.package_type().as_str().to_owned()),
            query: None,
            name: Some(view.listing.package.lower_name.clone()),
        };
        let (others, _) = state.db.list_versions(
            view.owner.id,
            &filter,
            Page {
                page: 1,
                limit: OTHER_VERSIONS,
            },
        )?;
        let can_write = access::allows(&state, &viewer.auth, &view.owner, AccessMode::Write)?;
        Ok((viewer, view, files, others, can_write))
    })
    .await?;
    let p = &view.listing.package;
    let v = &view.listing.version;
    let here = version_href(&view.owner.name, &p.package_type, &p.name, &v.version);
    let creator = view
        .listing
        .creator
        .as_ref()
        .map_or("Ghost", |u| u.name.as_str());
    let body = html! {
        p class="muted" {
            a href={ "/" (seg(&view.owner.name)) "/-/packages" } { (view.owner.name) }
            " / " (p.package_type)
        }
        h1 { (p.name) " " (v.version) }
        dl class="facts" {
            dt { "Published" }
            dd { time datetime=(machine_time(v.created_unix)) { (format_time(v.created_unix)) } }
            dt { "Uploaded by" }
            dd { (creator) }
            dt { "Downloads" }
            dd { (v.download_count) }
            @for (label, value) in view.format.metadata_fields(v.metadata_json.as_deref()) {
                dt { (label) }
                dd { (value) }
            }
        }
        h2 id="files" { "Files" }
        (files_table(&view, &files, &here, can_write))
        h2 id="commands" { "Fetch and verify" }
        (commands(&site, &view, &files))
        h2 id="versions" { "Versions" }
        ul {
            @for other in &others {
                li {
                    @let href = version_href(&view.owner.name, &p.package_type, &p.name, &other.version.version);
                    @if other.version.id == v.id {
                        a href=(href) aria-current="page" { strong { (other.version.version) } }
                    } @else {
                        a href=(href) { (other.version.version) }
                    }
                    " · " time datetime=(machine_time(other.version.created_unix)) { (format_time(other.version.created_unix)) }
                }
            }
        }
        @if can_write {
            h2 id="manage" { "Manage" }
            p { a class="button" href={ (here) "/delete" } { "Delete this version" } }
        }
    };
    let title = format!("{} {}", p.name, v.version);
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        page(&title, Some(&viewer), body),
    ))
}

/// Where a file is downloaded from, as its format says.
fn download_path(view: &VersionView, file: &str) -> Option<String> {
    let p = &view.listing.package;
    let v = &view.listing.version;
    view.format
        .download_path(&view.owner.name, &p.name, &v.version, file)
}

fn files_table(
    view: &VersionView,
    files: &[(PackageFile, PackageBlob)],
    here: &str,
    can_write: bool,
) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                thead {
                    tr {
                        th scope="col" { "File" }
                        th scope="col" { "Size" }
                        th scope="col" { "SHA-256" }
                        th scope="col" class="optional" { "Uploaded" }
                        @if can_write { th scope="col" { span class="offscreen" { "Actions" } } }
                    }
                }
                tbody {
                    @for (file, blob) in files {
                        tr {
                            td {
                                @if let Some(href) = download_path(view, &file.name) {
                                    a href=(href) download { (file.name) }
                                } @else {
                                    (file.name)
                                }
                            }
                            td { (format_size(blob.size.max(0) as u64)) }
                            td {
                                code class="digest" { (blob.hash_sha256) }
                                details {
                                    summary { "Other digests" }
                                    dl class="facts" {
                                        dt { "SHA-512" } dd { code class="digest" { (blob.hash_sha512) } }
                                        dt { "SHA-1" } dd { code class="digest" { (blob.hash_sha1) } }
                                        dt { "MD5" } dd { code class="digest" { (blob.hash_md5) } }
                                    }
                                }
                            }
                            td class="optional" { time datetime=(machine_time(file.created_unix)) { (format_time(file.created_unix)) } }
                            @if can_write {
                                td {
                                    a href={ (here) "/delete?file=" (query_escape(&file.name)) } {
                                        "Delete" span class="offscreen" { " " (file.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Quotes a word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Copy-paste commands: the format's own (install), then fetching each file with curl or
/// wget and checking it with sha256sum.
fn commands(site: &Site, view: &VersionView, files: &[(PackageFile, PackageBlob)]) -> Markup {
    let p = &view.listing.package;
    let v = &view.listing.version;
    let install =
        view.format
            .install_commands(&site.base_url, &view.owner.name, &p.name, &v.version);
    let mut curl = String::new();
    let mut wget = String::new();
    let mut check = String::from("sha256sum -c <<'SUMS'\n");
    for (file, blob) in files {
        let Some(path) = download_path(view, &file.name) else {
            continue;
        };
        let url = shell_quote(&format!("{}{path}", site.base_url));
        let name = shell_quote(&file.name);
        curl.push_str(&format!("curl -fL -o {name} {url}\n"));
        wget.push_str(&format!("wget -O {name} {url}\n"));
        check.push_str(&format!("{}  {}\n", blob.hash_sha256, file.name));
    }
    check.push_str("SUMS\n");
    html! {
        @for (i, (label, text)) in install.iter().enumerate() {
            (copy_block(&format!("cmd-install-{i}"), label, text))
        }
        @if !curl.is_empty() {
            (copy_block("cmd-curl", "Download with curl", &curl))
            (copy_block("cmd-wget", "Or with wget", &wget))
            (copy_block("cmd-verify", "Verify the downloads", &check))
        }
    }
}
