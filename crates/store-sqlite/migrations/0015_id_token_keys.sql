-- RS256 ID tokens for the clients that register for them (issue #9): RSA keys rotate
-- beside the ES256 keys, so one key of each algorithm signs and one waits to sign.
DROP INDEX signing_keys_one_per_state;
CREATE UNIQUE INDEX signing_keys_one_per_alg_and_state ON signing_keys (alg, state)
    WHERE state IN ('next', 'active');

-- OpenID Connect Dynamic Client Registration §2: how the client's ID tokens are signed.
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'ES256';

-- RFC 7591 §2: where a private_key_jwt client publishes its keys, instead of `jwks`.
ALTER TABLE oauth_clients ADD COLUMN jwks_uri TEXT;
