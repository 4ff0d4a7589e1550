-- A password found in a breach list at sign-in must be changed before the account can do
-- anything else (1 = required).
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0;
