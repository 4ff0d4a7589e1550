//! `WebAuthnStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_webauthn {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::WebAuthnStore for $store {
            async fn insert_webauthn_credential(
                &self,
                credential: &$crate::WebAuthnCredential,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO webauthn_credentials
                        (credential_id, user_id, nickname, passkey, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&credential.id)
                .bind(credential.user_id.to_string())
                .bind(&credential.nickname)
                .bind(&credential.passkey)
                .bind(credential.created_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn webauthn_credentials(
                &self,
                user: medvault_domain::UserId,
            ) -> Result<Vec<$crate::WebAuthnCredential>, $crate::StoreError> {
                let rows: Vec<$crate::sql::rows::WebAuthnRow> = sqlx::query_as(
                    "SELECT credential_id, user_id, nickname, passkey, created_at, last_used_at
                       FROM webauthn_credentials WHERE user_id = $1
                      ORDER BY created_at, credential_id",
                )
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql::rows::webauthn).collect()
            }

            async fn webauthn_credential(
                &self,
                id: &str,
            ) -> Result<$crate::WebAuthnCredential, $crate::StoreError> {
                let row: $crate::sql::rows::WebAuthnRow = sqlx::query_as(
                    "SELECT credential_id, user_id, nickname, passkey, created_at, last_used_at
                       FROM webauthn_credentials WHERE credential_id = $1",
                )
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
                $crate::sql::rows::webauthn(row)
            }

            async fn use_webauthn_credential(
                &self,
                id: &str,
                expected: &str,
                updated: &str,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let changed = sqlx::query(
                    "UPDATE webauthn_credentials SET passkey = $1, last_used_at = $2
                      WHERE credential_id = $3 AND passkey = $4",
                )
                .bind(updated)
                .bind(at.0)
                .bind(id)
                .bind(expected)
                .execute(&self.pool)
                .await?;
                if changed.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::StoreError::Conflict)
                }
            }

            async fn delete_webauthn_credential(
                &self,
                user: medvault_domain::UserId,
                id: &str,
            ) -> Result<(), $crate::StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM webauthn_credentials WHERE user_id = $1 AND credential_id = $2",
                )
                .bind(user.to_string())
                .bind(id)
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(deleted.rows_affected())
            }

            async fn delete_webauthn_credentials(
                &self,
                user: medvault_domain::UserId,
            ) -> Result<u64, $crate::StoreError> {
                let deleted = sqlx::query("DELETE FROM webauthn_credentials WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(deleted.rows_affected())
            }

            async fn put_ceremony(
                &self,
                ceremony: &$crate::Ceremony,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
                    .bind($crate::sql::now_millis())
                    .execute(&mut *tx)
                    .await?;
                // A restart (a sign-in retrying its passkey step) replaces the state and
                // may be finished again; kind and user never change.
                let stored = sqlx::query(
                    "INSERT INTO webauthn_ceremonies
                        (token_hash, kind, user_id, session_id, state, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (token_hash) DO UPDATE
                        SET state = excluded.state, expires_at = excluded.expires_at,
                            spent_at = NULL
                      WHERE webauthn_ceremonies.kind = excluded.kind
                        AND webauthn_ceremonies.user_id = excluded.user_id",
                )
                .bind(ceremony.digest.as_slice())
                .bind(ceremony.kind.as_str())
                .bind(ceremony.user_id.map(|u| u.to_string()))
                .bind(ceremony.session_id.map(|s| s.to_string()))
                .bind(&ceremony.state)
                .bind(ceremony.expires_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::one_row(stored.rows_affected())
                    .map_err(|_| $crate::StoreError::Conflict)
            }

            async fn take_ceremony(
                &self,
                digest: &[u8; 32],
                kind: $crate::CeremonyKind,
                now: medvault_domain::UnixMillis,
            ) -> Result<$crate::Ceremony, $crate::StoreError> {
                let row: (Option<String>, Option<String>, String, i64) = sqlx::query_as(
                    "UPDATE webauthn_ceremonies SET spent_at = $1
                      WHERE token_hash = $2 AND kind = $3 AND spent_at IS NULL
                        AND expires_at > $1
                      RETURNING user_id, session_id, state, expires_at",
                )
                .bind(now.0)
                .bind(digest.as_slice())
                .bind(kind.as_str())
                .fetch_one(&self.pool)
                .await?;
                let (user_id, session_id, state, expires_at) = row;
                let corrupt = || $crate::sql::rows::corrupt("webauthn ceremony");
                Ok($crate::Ceremony {
                    digest: *digest,
                    kind,
                    user_id: user_id
                        .map(|u| u.parse())
                        .transpose()
                        .map_err(|_| corrupt())?,
                    session_id: session_id
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(|_| corrupt())?,
                    state,
                    expires_at: medvault_domain::UnixMillis(expires_at),
                })
            }
        }
    };
}
