//! Table definitions shared by both backends. Only types that mean the same on PostgreSQL and
//! SQLite are used: BigInt, SmallInt, Integer, Text and Bool.

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        lower_name -> Text,
        kind -> SmallInt,
        full_name -> Text,
        description -> Text,
        email -> Text,
        lower_email -> Text,
        password_hash -> Nullable<Text>,
        is_admin -> Bool,
        is_active -> Bool,
        prohibit_login -> Bool,
        is_restricted -> Bool,
        visibility -> SmallInt,
        must_change_password -> Bool,
        created_unix -> BigInt,
        updated_unix -> BigInt,
        last_login_unix -> BigInt,
        website -> Text,
        location -> Text,
    }
}

diesel::table! {
    access_token (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        token_last_eight -> Text,
        scope -> Text,
        created_unix -> BigInt,
        updated_unix -> BigInt,
    }
}

diesel::table! {
    org_user (id) {
        id -> BigInt,
        org_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    team (id) {
        id -> BigInt,
        org_id -> BigInt,
        name -> Text,
        lower_name -> Text,
        description -> Text,
        authorize -> SmallInt,
        includes_all_repositories -> Bool,
        can_create_org_repo -> Bool,
    }
}

diesel::table! {
    team_user (id) {
        id -> BigInt,
        org_id -> BigInt,
        team_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    team_unit (id) {
        id -> BigInt,
        org_id -> BigInt,
        team_id -> BigInt,
        unit_type -> Text,
        access_mode -> SmallInt,
    }
}

diesel::table! {
    package (id) {
        id -> BigInt,
        owner_id -> BigInt,
        repo_id -> BigInt,
        #[sql_name = "type"]
        package_type -> Text,
        name -> Text,
        lower_name -> Text,
        semver_compatible -> Bool,
        is_internal -> Bool,
    }
}

diesel::table! {
    package_version (id) {
        id -> BigInt,
        package_id -> BigInt,
        creator_id -> BigInt,
        version -> Text,
        lower_version -> Text,
        created_unix -> BigInt,
        is_internal -> Bool,
        metadata_json -> Nullable<Text>,
        download_count -> BigInt,
    }
}

diesel::table! {
    package_blob (id) {
        id -> BigInt,
        size -> BigInt,
        hash_md5 -> Text,
        hash_sha1 -> Text,
        hash_sha256 -> Text,
        hash_sha512 -> Text,
        created_unix -> BigInt,
        storage_key -> Nullable<Text>,
    }
}

diesel::table! {
    package_file (id) {
        id -> BigInt,
        version_id -> BigInt,
        blob_id -> BigInt,
        name -> Text,
        lower_name -> Text,
        composite_key -> Text,
        is_lead -> Bool,
        created_unix -> BigInt,
    }
}

diesel::table! {
    package_property (id) {
        id -> BigInt,
        ref_type -> SmallInt,
        ref_id -> BigInt,
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    owner_package_setting (owner_id) {
        owner_id -> BigInt,
        allow_replace -> Bool,
    }
}

diesel::table! {
    package_cleanup_rule (id) {
        id -> BigInt,
        enabled -> Bool,
        owner_id -> BigInt,
        #[sql_name = "type"]
        package_type -> Text,
        keep_count -> Integer,
        keep_pattern -> Text,
        remove_days -> Integer,
        remove_pattern -> Text,
        match_full_name -> Bool,
        created_unix -> BigInt,
        updated_unix -> BigInt,
    }
}

diesel::table! {
    web_session (id) {
        id -> BigInt,
        session_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_unix -> BigInt,
        expires_unix -> BigInt,
    }
}

diesel::table! {
    resumable_upload (id) {
        id -> Text,
        owner_id -> BigInt,
        creator_id -> BigInt,
        exempt_from_limits -> Bool,
        package_name -> Text,
        package_version -> Text,
        file_name -> Text,
        upload_length -> BigInt,
        upload_offset -> BigInt,
        metadata -> Text,
        store_state -> Text,
        lease -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        created_unix -> BigInt,
        expires_unix -> BigInt,
        package_type -> Text,
    }
}

diesel::table! {
    login_failure (id) {
        id -> BigInt,
        key -> Text,
        failed_ms -> BigInt,
    }
}

diesel::joinable!(access_token -> users (user_id));
diesel::joinable!(web_session -> users (user_id));
diesel::joinable!(team_user -> team (team_id));
diesel::joinable!(team_unit -> team (team_id));
diesel::joinable!(package -> users (owner_id));
diesel::joinable!(package_version -> package (package_id));
diesel::joinable!(package_file -> package_version (version_id));
diesel::joinable!(package_file -> package_blob (blob_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    access_token,
    org_user,
    team,
    team_user,
    team_unit,
    package,
    package_version,
    package_blob,
    package_file,
    package_property,
    owner_package_setting,
    package_cleanup_rule,
    web_session,
    resumable_upload,
    login_failure,
);
