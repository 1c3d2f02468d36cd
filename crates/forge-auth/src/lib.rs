//! Authentication and authorisation for forge-packages, as pure logic.
//!
//! - [`credentials`] turns an `Authorization` header into [`Credentials`] and says in which
//!   order the server should try them (token first, then a password sign-in).
//! - [`token`] mints personal access tokens and hashes them for storage and lookup.
//! - [`session`] mints browser session ids and form tokens and hashes ids for storage.
//! - [`scope`] parses and normalises token scopes with Forgejo's rules.
//! - [`password`] hashes and verifies passwords with bcrypt and caches recent successful
//!   verifications so Basic auth does not pay for a full bcrypt on every request.
//! - [`signed_link`] signs and verifies the JWTs of signed download links.
//! - [`permission`] computes a doer's access mode on an owner and makes the package access
//!   decision exactly as Forgejo's package router does.
//!
//! Nothing here knows about HTTP or SQL: the server loads users, tokens and memberships and
//! hands plain values to these functions. bcrypt is CPU-heavy; callers on an async runtime
//! should run [`hash_password`], [`verify_password`] and [`dummy_verify`] on a blocking thread.

pub mod credentials;
pub mod error;
pub mod password;
pub mod permission;
pub mod registry_token;
pub mod scope;
pub mod secret;
pub mod session;
pub mod signed_link;
pub mod token;

pub use credentials::{
    parse_authorization, parse_authorization_or_bare_token, Credentials, CredentialsError,
};
pub use error::AuthError;
pub use password::{
    dummy_verify, hash_password, validate_new_password, verify_password, VerifiedPasswordCache,
    DEFAULT_BCRYPT_COST, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES,
};
pub use permission::{
    check_package_access, owner_access_mode, Doer, Membership, OwnerInfo, PackageAccessDenied,
    GHOST_USER_ID,
};
pub use scope::{ScopeCategory, TokenScopes, UnknownScope};
pub use secret::Secret;
pub use session::{
    csrf_token_matches, generate_session, hash_session_id, looks_like_session_id, random_hex,
    NewSession,
};
pub use token::{generate_token, hash_token, looks_like_token, verify_token, NewTokenSecret};
