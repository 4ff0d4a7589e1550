//! `UserStore`, `SessionStore` and `SigningKeyStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_users {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::UserStore for $store {
            async fn insert_user(
                &self,
                user: &medvault_domain::User,
                password_hash: Option<&str>,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, email, display_name, status, roles, patient_id,
                                        practitioner_id, organization_id, password_hash,
                                        created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(user.id.to_string())
                .bind(user.email.as_str())
                .bind(user.display_name.as_ref().map(|n| n.as_str()))
                .bind(user.status.as_str())
                .bind(user.roles.to_space_separated())
                .bind(user.patient_id.map(|p| p.to_string()))
                .bind(user.practitioner_id.as_ref().map(|p| p.to_string()))
                .bind(user.organization_id.as_ref().map(|o| o.to_string()))
                .bind(password_hash)
                .bind(user.created_at.0)
                .bind(user.updated_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn user(
                &self,
                id: medvault_domain::UserId,
            ) -> Result<medvault_domain::User, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM users WHERE id = $1",
                    $crate::sql::rows::USER_COLUMNS
                );
                let row: $crate::sql::rows::UserRow = sqlx::query_as(&sql)
                    .bind(id.to_string())
                    .fetch_one(&self.pool)
                    .await?;
                $crate::sql::rows::user(row)
            }

            async fn user_by_email(
                &self,
                email: &medvault_domain::Email,
            ) -> Result<medvault_domain::User, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM users WHERE email = $1",
                    $crate::sql::rows::USER_COLUMNS
                );
                let row: $crate::sql::rows::UserRow = sqlx::query_as(&sql)
                    .bind(email.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                $crate::sql::rows::user(row)
            }

            async fn password_hash(
                &self,
                id: medvault_domain::UserId,
            ) -> Result<Option<String>, $crate::StoreError> {
                let hash: Option<String> =
                    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_one(&self.pool)
                        .await?;
                Ok(hash)
            }

            async fn set_password_hash(
                &self,
                id: medvault_domain::UserId,
                hash: &str,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(hash)
                .bind(at.0)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(updated.rows_affected())
            }

            async fn set_password_change_required(
                &self,
                id: medvault_domain::UserId,
                required: bool,
            ) -> Result<(), $crate::StoreError> {
                let updated =
                    sqlx::query("UPDATE users SET password_change_required = $1 WHERE id = $2")
                        .bind(i64::from(required))
                        .bind(id.to_string())
                        .execute(&self.pool)
                        .await?;
                $crate::sql::one_row(updated.rows_affected())
            }

            async fn password_change_required(
                &self,
                id: medvault_domain::UserId,
            ) -> Result<bool, $crate::StoreError> {
                let required: i64 =
                    sqlx::query_scalar("SELECT password_change_required FROM users WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_one(&self.pool)
                        .await?;
                Ok(required != 0)
            }

            async fn update_user(
                &self,
                user: &medvault_domain::User,
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE users SET display_name = $1, status = $2, roles = $3, patient_id = $4,
                                      practitioner_id = $5, organization_id = $6,
                                      updated_at = $7
                      WHERE id = $8",
                )
                .bind(user.display_name.as_ref().map(|n| n.as_str()))
                .bind(user.status.as_str())
                .bind(user.roles.to_space_separated())
                .bind(user.patient_id.map(|p| p.to_string()))
                .bind(user.practitioner_id.as_ref().map(|p| p.to_string()))
                .bind(user.organization_id.as_ref().map(|o| o.to_string()))
                .bind(user.updated_at.0)
                .bind(user.id.to_string())
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(updated.rows_affected())
            }

            async fn delete_user(
                &self,
                id: medvault_domain::UserId,
            ) -> Result<(), $crate::StoreError> {
                let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await?;
                $crate::sql::one_row(deleted.rows_affected())
            }

            async fn list_users(
                &self,
                filter: &$crate::UserFilter,
                after: Option<&medvault_domain::Email>,
                limit: u32,
            ) -> Result<Vec<medvault_domain::User>, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM users
                      WHERE ($1 IS NULL OR email = $1)
                        AND ($2 IS NULL OR (' ' || roles || ' ') LIKE $2)
                        AND ($3 IS NULL OR status = $3)
                        AND ($4 IS NULL OR email > $4)
                        AND ($5 IS NULL OR patient_id = $5)
                      ORDER BY email LIMIT $6",
                    $crate::sql::rows::USER_COLUMNS
                );
                let rows: Vec<$crate::sql::rows::UserRow> = sqlx::query_as(&sql)
                    .bind(filter.email.as_ref().map(|e| e.as_str().to_owned()))
                    .bind(filter.role.map(|r| format!("% {r} %")))
                    .bind(filter.status.map(|s| s.as_str()))
                    .bind(after.map(|e| e.as_str().to_owned()))
                    .bind(filter.patient.map(|p| p.to_string()))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::rows::user).collect()
            }

            async fn count_active_admins(&self) -> Result<u64, $crate::StoreError> {
                let count: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM users
                      WHERE status = 'active' AND (' ' || roles || ' ') LIKE '% admin %'",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }
        }
    };
}

/// Inserts a session and its first refresh token within transaction `$tx`.
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_insert_session {
    ($session:expr, $first:expr, $tx:ident) => {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_seen_at, idle_expires_at,
                                   absolute_expires_at, ip, user_agent, amr, revoked_at,
                                   mfa_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind($session.id.to_string())
        .bind($session.user_id.to_string())
        .bind($session.created_at.0)
        .bind($session.last_seen_at.0)
        .bind($session.idle_expires_at.0)
        .bind($session.absolute_expires_at.0)
        .bind($session.ip.as_deref())
        .bind($session.user_agent.as_deref())
        .bind($session.amr.join(" "))
        .bind($session.revoked_at.map(|t| t.0))
        .bind($session.mfa_at.map(|t| t.0))
        .execute(&mut *$tx)
        .await?;
        $crate::__sql_insert_refresh_token!($first, &mut *$tx);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_sessions {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::SessionStore for $store {
            async fn insert_session(
                &self,
                session: &medvault_domain::Session,
                first: &$crate::RefreshTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                $crate::__sql_insert_session!(session, first, tx);
                tx.commit().await?;
                Ok(())
            }

            async fn session(
                &self,
                id: medvault_domain::SessionId,
            ) -> Result<medvault_domain::Session, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM sessions WHERE id = $1",
                    $crate::sql::rows::SESSION_COLUMNS
                );
                let row: $crate::sql::rows::SessionRow = sqlx::query_as(&sql)
                    .bind(id.to_string())
                    .fetch_one(&self.pool)
                    .await?;
                $crate::sql::rows::session(row)
            }

            async fn live_sessions(
                &self,
                user: medvault_domain::UserId,
                now: medvault_domain::UnixMillis,
            ) -> Result<Vec<medvault_domain::Session>, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM sessions
                      WHERE user_id = $1 AND revoked_at IS NULL
                        AND idle_expires_at > $2 AND absolute_expires_at > $2
                      ORDER BY created_at DESC",
                    $crate::sql::rows::SESSION_COLUMNS
                );
                let rows: Vec<$crate::sql::rows::SessionRow> = sqlx::query_as(&sql)
                    .bind(user.to_string())
                    .bind(now.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::rows::session).collect()
            }

            async fn rotate_refresh_token(
                &self,
                presented: &[u8; 32],
                next: &[u8; 32],
                now: medvault_domain::UnixMillis,
                idle_expires_at: medvault_domain::UnixMillis,
            ) -> Result<$crate::Rotation, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                // The compare-and-set: only one presenter of a live token can spend it.
                let spent: Option<String> = sqlx::query_scalar(
                    "UPDATE refresh_tokens SET used_at = $1
                      WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
                      RETURNING session_id",
                )
                .bind(now.0)
                .bind(&presented[..])
                .fetch_optional(&mut *tx)
                .await?;
                let Some(session_id) = spent else {
                    let known: Option<(String, Option<i64>)> = sqlx::query_as(
                        "SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = $1",
                    )
                    .bind(&presented[..])
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    return $crate::sql::unspendable(known);
                };
                let sql = format!(
                    "SELECT {} FROM sessions WHERE id = $1",
                    $crate::sql::rows::SESSION_COLUMNS
                );
                let row: $crate::sql::rows::SessionRow = sqlx::query_as(&sql)
                    .bind(&session_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut session = $crate::sql::rows::session(row)?;
                if !session.is_live(now) {
                    tx.rollback().await?;
                    return Ok($crate::Rotation::Dead(session.id));
                }
                session.last_seen_at = now;
                session.idle_expires_at = idle_expires_at.min(session.absolute_expires_at);
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3",
                )
                .bind(session.last_seen_at.0)
                .bind(session.idle_expires_at.0)
                .bind(&session_id)
                .execute(&mut *tx)
                .await?;
                let next = $crate::RefreshTokenRecord {
                    digest: *next,
                    session_id: session.id,
                    issued_at: now,
                    expires_at: session.idle_expires_at,
                };
                $crate::__sql_insert_refresh_token!(next, &mut *tx);
                tx.commit().await?;
                Ok($crate::Rotation::Rotated(session))
            }

            async fn revoke_session(
                &self,
                id: medvault_domain::SessionId,
                at: medvault_domain::UnixMillis,
            ) -> Result<bool, $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(at.0)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
                if updated.rows_affected() == 0 {
                    // Distinguish "already revoked" from "never existed".
                    $crate::SessionStore::session(self, id).await?;
                    return Ok(false);
                }
                Ok(true)
            }

            async fn revoke_sessions_of(
                &self,
                user: medvault_domain::UserId,
                except: Option<medvault_domain::SessionId>,
                at: medvault_domain::UnixMillis,
            ) -> Result<Vec<medvault_domain::SessionId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "UPDATE sessions SET revoked_at = $1
                      WHERE user_id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR id <> $3)
                     RETURNING id",
                )
                .bind(at.0)
                .bind(user.to_string())
                .bind(except.map(|id| id.to_string()))
                .fetch_all(&self.pool)
                .await?;
                $crate::sql::session_ids(ids)
            }

            async fn sessions_revoked_since(
                &self,
                since: medvault_domain::UnixMillis,
            ) -> Result<Vec<medvault_domain::SessionId>, $crate::StoreError> {
                let ids: Vec<String> =
                    sqlx::query_scalar("SELECT id FROM sessions WHERE revoked_at >= $1")
                        .bind(since.0)
                        .fetch_all(&self.pool)
                        .await?;
                $crate::sql::session_ids(ids)
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sql_insert_refresh_token {
    ($token:expr, $executor:expr) => {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&$token.digest[..])
        .bind($token.session_id.to_string())
        .bind($token.issued_at.0)
        .bind($token.expires_at.0)
        .execute($executor)
        .await?;
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_signing_keys {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::SigningKeyStore for $store {
            async fn insert_signing_key(
                &self,
                key: &$crate::SigningKeyRecord,
            ) -> Result<(), $crate::StoreError> {
                $crate::__sql_insert_signing_key!(key, &self.pool);
                Ok(())
            }

            async fn published_signing_keys(
                &self,
            ) -> Result<Vec<$crate::SigningKeyRecord>, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM signing_keys WHERE state <> 'retired' ORDER BY created_at",
                    $crate::sql::rows::SIGNING_KEY_COLUMNS
                );
                let rows: Vec<$crate::sql::rows::SigningKeyRow> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::sql::rows::signing_key).collect()
            }

            async fn rotate_signing_keys(
                &self,
                new_next: &$crate::SigningKeyRecord,
                at: medvault_domain::UnixMillis,
                retiring_until: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                // Each algorithm rotates on its own.
                let retiring = sqlx::query(
                    "UPDATE signing_keys SET state = 'retiring', state_since = $1, publish_until = $2
                      WHERE state = 'active' AND alg = $3",
                )
                .bind(at.0)
                .bind(retiring_until.0)
                .bind(&new_next.alg)
                .execute(&mut *tx)
                .await?;
                let promoted = sqlx::query(
                    "UPDATE signing_keys SET state = 'active', state_since = $1
                      WHERE state = 'next' AND alg = $2",
                )
                .bind(at.0)
                .bind(&new_next.alg)
                .execute(&mut *tx)
                .await?;
                if retiring.rows_affected() != 1 || promoted.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Err($crate::StoreError::Conflict);
                }
                $crate::__sql_insert_signing_key!(new_next, &mut *tx);
                tx.commit().await?;
                Ok(())
            }

            async fn reseal_signing_key(
                &self,
                kid: &str,
                sealed_private: &[u8],
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query("UPDATE signing_keys SET sealed_private = $1 WHERE kid = $2")
                    .bind(sealed_private)
                    .bind(kid)
                    .execute(&self.pool)
                    .await?;
                $crate::sql::one_row(updated.rows_affected())
            }

            async fn retire_signing_keys(
                &self,
                now: medvault_domain::UnixMillis,
            ) -> Result<u64, $crate::StoreError> {
                let retired = sqlx::query(
                    "UPDATE signing_keys SET state = 'retired', state_since = $1
                      WHERE state = 'retiring' AND publish_until <= $1",
                )
                .bind(now.0)
                .execute(&self.pool)
                .await?;
                Ok(retired.rows_affected())
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sql_insert_signing_key {
    ($key:expr, $executor:expr) => {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, sealed_private, public_jwk, state, created_at,
                                       state_since, publish_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&$key.kid)
        .bind(&$key.alg)
        .bind(&$key.sealed_private)
        .bind(&$key.public_jwk)
        .bind($key.state.as_str())
        .bind($key.created_at.0)
        .bind($key.state_since.0)
        .bind($key.publish_until.map(|t| t.0))
        .execute($executor)
        .await?;
    };
}
