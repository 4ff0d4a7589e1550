//! `MfaStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_mfa {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::MfaStore for $store {
            async fn put_pending_totp(
                &self,
                user: medvault_domain::UserId,
                sealed_secret: &[u8],
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NULL",
                )
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
                // A confirmed factor stays: the primary key turns this insert into a conflict.
                sqlx::query(
                    "INSERT INTO mfa_totp (user_id, sealed_secret, created_at, confirmed_at, last_step)
                     VALUES ($1, $2, $3, NULL, 0)",
                )
                .bind(user.to_string())
                .bind(sealed_secret)
                .bind(at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn totp(
                &self,
                user: medvault_domain::UserId,
            ) -> Result<Option<$crate::TotpRecord>, $crate::StoreError> {
                let row: Option<(Vec<u8>, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT sealed_secret, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1",
                )
                .bind(user.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(sealed_secret, confirmed_at, last_step)| {
                    Ok($crate::TotpRecord {
                        sealed_secret,
                        confirmed_at: confirmed_at.map(medvault_domain::UnixMillis),
                        last_step: u64::try_from(last_step)
                            .map_err(|_| $crate::sql::rows::corrupt("totp"))?,
                    })
                })
                .transpose()
            }

            async fn confirm_totp(
                &self,
                user: medvault_domain::UserId,
                step: u64,
                at: medvault_domain::UnixMillis,
                recovery_digests: &[[u8; 32]],
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let confirmed = sqlx::query(
                    "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2
                      WHERE user_id = $3 AND confirmed_at IS NULL",
                )
                .bind(at.0)
                .bind($crate::sql::seq_value(step)?)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
                $crate::sql::one_row(confirmed.rows_affected())?;
                if !recovery_digests.is_empty() {
                    $crate::__sql_replace_recovery_codes!(&mut *tx, user, recovery_digests);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn use_totp_step(
                &self,
                user: medvault_domain::UserId,
                step: u64,
            ) -> Result<(), $crate::StoreError> {
                let used = sqlx::query(
                    "UPDATE mfa_totp SET last_step = $1
                      WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1",
                )
                .bind($crate::sql::seq_value(step)?)
                .bind(user.to_string())
                .execute(&self.pool)
                .await?;
                if used.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::StoreError::Conflict)
                }
            }

            async fn delete_totp(
                &self,
                user: medvault_domain::UserId,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                $crate::sql::one_row(deleted.rows_affected())?;
                tx.commit().await?;
                Ok(())
            }

            async fn replace_recovery_codes(
                &self,
                user: medvault_domain::UserId,
                digests: &[[u8; 32]],
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                $crate::__sql_replace_recovery_codes!(&mut *tx, user, digests);
                tx.commit().await?;
                Ok(())
            }

            async fn use_recovery_code(
                &self,
                user: medvault_domain::UserId,
                digest: &[u8; 32],
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let used = sqlx::query(
                    "UPDATE mfa_recovery_codes SET used_at = $1
                      WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                )
                .bind(at.0)
                .bind(user.to_string())
                .bind(&digest[..])
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(used.rows_affected())
            }

            async fn unused_recovery_codes(
                &self,
                user: medvault_domain::UserId,
            ) -> Result<u32, $crate::StoreError> {
                let count: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user.to_string())
                .fetch_one(&self.pool)
                .await?;
                u32::try_from(count).map_err(|_| $crate::sql::rows::corrupt("recovery codes"))
            }

            async fn insert_mfa_challenge(
                &self,
                challenge: &$crate::MfaChallengeRecord,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at, failures, spent_at)
                     VALUES ($1, $2, $3, $4, 0, NULL)",
                )
                .bind(&challenge.digest[..])
                .bind(challenge.user_id.to_string())
                .bind(at.0)
                .bind(challenge.expires_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn mfa_challenge(
                &self,
                digest: &[u8; 32],
                now: medvault_domain::UnixMillis,
                max_failures: u32,
            ) -> Result<$crate::MfaChallengeRecord, $crate::StoreError> {
                let (user_id, expires_at): (String, i64) = sqlx::query_as(
                    "SELECT user_id, expires_at FROM mfa_challenges
                      WHERE token_hash = $1 AND expires_at > $2 AND spent_at IS NULL AND failures < $3",
                )
                .bind(&digest[..])
                .bind(now.0)
                .bind(i64::from(max_failures))
                .fetch_one(&self.pool)
                .await?;
                Ok($crate::MfaChallengeRecord {
                    digest: *digest,
                    user_id: user_id
                        .parse()
                        .map_err(|_| $crate::sql::rows::corrupt("mfa challenge"))?,
                    expires_at: medvault_domain::UnixMillis(expires_at),
                })
            }

            async fn fail_mfa_challenge(&self, digest: &[u8; 32]) -> Result<(), $crate::StoreError> {
                let failed = sqlx::query(
                    "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1",
                )
                .bind(&digest[..])
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(failed.rows_affected())
            }

            async fn spend_mfa_challenge(
                &self,
                digest: &[u8; 32],
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let spent = sqlx::query(
                    "UPDATE mfa_challenges SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL",
                )
                .bind(at.0)
                .bind(&digest[..])
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(spent.rows_affected())
            }

            async fn record_session_mfa(
                &self,
                session: medvault_domain::SessionId,
                at: medvault_domain::UnixMillis,
                amr: &[String],
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query("UPDATE sessions SET mfa_at = $1, amr = $2 WHERE id = $3")
                    .bind(at.0)
                    .bind(amr.join(" "))
                    .bind(session.to_string())
                    .execute(&self.pool)
                    .await?;
                $crate::sql::one_row(updated.rows_affected())
            }
        }
    };
}

/// Replaces a user's recovery codes inside an open transaction.
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_replace_recovery_codes {
    ($conn:expr, $user:expr, $digests:expr) => {
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind($user.to_string())
            .execute($conn)
            .await?;
        for digest in $digests {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)",
            )
            .bind($user.to_string())
            .bind(&digest[..])
            .execute($conn)
            .await?;
        }
    };
}
