-- One e-mail address per user account, in any casing. The application's check ran outside
-- the insert's transaction, so two sign-ups at once could both pass it.
CREATE UNIQUE INDEX users_user_lower_email_unique ON users (lower_email)
    WHERE kind = 0 AND lower_email <> '';
