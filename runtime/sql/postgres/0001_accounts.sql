-- Accounts: passwords as argon2id PHC strings; roles space-separated.
CREATE TABLE "auth_users" (
    "id" UUID PRIMARY KEY NOT NULL,
    "email" TEXT NOT NULL CONSTRAINT "auth_users_email_key" UNIQUE,
    "password_hash" TEXT NOT NULL,
    "roles" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);

-- Refresh tokens (SHA-256 of the token); a family is one login's chain of rotations.
CREATE TABLE "auth_refresh_tokens" (
    "id" UUID PRIMARY KEY NOT NULL,
    "user_id" UUID NOT NULL CONSTRAINT "auth_refresh_tokens_user_id_fkey" REFERENCES "auth_users" ("id") ON DELETE CASCADE,
    "family_id" UUID NOT NULL,
    "token_hash" TEXT NOT NULL CONSTRAINT "auth_refresh_tokens_token_hash_key" UNIQUE,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "auth_refresh_tokens_family_id_idx" ON "auth_refresh_tokens" ("family_id");
CREATE INDEX "auth_refresh_tokens_user_id_idx" ON "auth_refresh_tokens" ("user_id");

-- API keys (SHA-256 of the key); roles and scopes space-separated.
CREATE TABLE "auth_api_keys" (
    "id" UUID PRIMARY KEY NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL CONSTRAINT "auth_api_keys_key_hash_key" UNIQUE,
    "roles" TEXT NOT NULL,
    "scopes" TEXT NOT NULL,
    "owner_id" UUID,
    "created_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ
);
