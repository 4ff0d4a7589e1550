//! `OAuthClientStore` and `OAuthGrantStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_oauth {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::OAuthClientStore for $store {
            async fn insert_oauth_client(
                &self,
                client: &$crate::OAuthClient,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO oauth_clients (client_id, client_name, secret_hash,
                        token_endpoint_auth_method, grant_types, redirect_uris, scope, jwks,
                        created_at, id_token_signed_response_alg, jwks_uri)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&client.client_id)
                .bind(&client.client_name)
                .bind(client.secret_digest.map(|d| d.to_vec()))
                .bind(&client.token_endpoint_auth_method)
                .bind(client.grant_types.join(" "))
                .bind(client.redirect_uris.join(" "))
                .bind(&client.scope)
                .bind(&client.jwks)
                .bind(client.created_at.0)
                .bind(&client.id_token_signed_response_alg)
                .bind(&client.jwks_uri)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn oauth_client(
                &self,
                client_id: &str,
            ) -> Result<$crate::OAuthClient, $crate::StoreError> {
                let row: $crate::sql::rows::OAuthClientRow = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_clients WHERE client_id = $1",
                    $crate::sql::rows::OAUTH_CLIENT_COLUMNS
                ))
                .bind(client_id)
                .fetch_one(&self.pool)
                .await?;
                $crate::sql::rows::oauth_client(row)
            }

            async fn oauth_clients(&self) -> Result<Vec<$crate::OAuthClient>, $crate::StoreError> {
                let rows: Vec<$crate::sql::rows::OAuthClientRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_clients ORDER BY client_id",
                    $crate::sql::rows::OAUTH_CLIENT_COLUMNS
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::sql::rows::oauth_client)
                    .collect()
            }

            async fn delete_oauth_client(&self, client_id: &str) -> Result<(), $crate::StoreError> {
                let deleted = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&self.pool)
                    .await?;
                $crate::sql::one_row(deleted.rows_affected())
            }

            async fn revoke_token_id(
                &self,
                jti: &str,
                expires_at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM oauth_revoked_tokens WHERE expires_at < $1")
                    .bind($crate::sql::now_millis())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO oauth_revoked_tokens (jti, expires_at) VALUES ($1, $2)
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(expires_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn claim_assertion_id(
                &self,
                id: &str,
                expires_at: medvault_domain::UnixMillis,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM oauth_assertions WHERE expires_at < $1")
                    .bind($crate::sql::now_millis())
                    .execute(&mut *tx)
                    .await?;
                let claimed = sqlx::query(
                    "INSERT INTO oauth_assertions (id, expires_at) VALUES ($1, $2)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(expires_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn token_id_revoked(&self, jti: &str) -> Result<bool, $crate::StoreError> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT expires_at FROM oauth_revoked_tokens WHERE jti = $1",
                )
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }
        }

        #[$crate::sql::__async_trait]
        impl $crate::OAuthGrantStore for $store {
            async fn insert_authorization_code(
                &self,
                code: &$crate::AuthorizationCode,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                    .bind($crate::sql::now_millis() - 86_400_000)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO oauth_codes (digest, client_id, details, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(code.digest.to_vec())
                .bind(&code.client_id)
                .bind(&code.details)
                .bind(code.expires_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_authorization_code(
                &self,
                digest: &[u8; 32],
                session: medvault_domain::SessionId,
                at: medvault_domain::UnixMillis,
            ) -> Result<$crate::CodeRedemption, $crate::StoreError> {
                let redeemed: Option<(String, String)> = sqlx::query_as(
                    "UPDATE oauth_codes SET used_at = $1, session_id = $2
                     WHERE digest = $3 AND used_at IS NULL AND expires_at > $1
                     RETURNING client_id, details",
                )
                .bind(at.0)
                .bind(session.to_string())
                .bind(digest.to_vec())
                .fetch_optional(&self.pool)
                .await?;
                if let Some((client_id, details)) = redeemed {
                    return Ok($crate::CodeRedemption::Redeemed { client_id, details });
                }
                let spent: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT session_id FROM oauth_codes WHERE digest = $1 AND used_at IS NOT NULL",
                )
                .bind(digest.to_vec())
                .fetch_optional(&self.pool)
                .await?;
                Ok(match spent {
                    Some(session) => $crate::CodeRedemption::Reused(
                        session
                            .map(|s| s.parse().map_err(|_| $crate::sql::rows::corrupt("oauth code")))
                            .transpose()?,
                    ),
                    None => $crate::CodeRedemption::Unknown,
                })
            }

            async fn insert_grant_session(
                &self,
                grant: &$crate::OAuthGrant,
                session: &medvault_domain::Session,
                first: &$crate::RefreshTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO oauth_grants (session_id, client_id, sso_session_id, scope, patient_id)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(grant.session_id.to_string())
                .bind(&grant.client_id)
                .bind(grant.sso_session_id.to_string())
                .bind(&grant.scope)
                .bind(grant.patient.map(|p| p.to_string()))
                .execute(&mut *tx)
                .await?;
                $crate::__sql_insert_session!(session, first, tx);
                tx.commit().await?;
                Ok(())
            }

            async fn oauth_grant(
                &self,
                session: medvault_domain::SessionId,
            ) -> Result<Option<$crate::OAuthGrant>, $crate::StoreError> {
                let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
                    "SELECT client_id, sso_session_id, scope, patient_id FROM oauth_grants
                     WHERE session_id = $1",
                )
                .bind(session.to_string())
                .fetch_optional(&self.pool)
                .await?;
                let Some((client_id, sso, scope, patient)) = row else {
                    return Ok(None);
                };
                let corrupt = || $crate::sql::rows::corrupt("oauth grant");
                Ok(Some($crate::OAuthGrant {
                    session_id: session,
                    client_id,
                    sso_session_id: sso.parse().map_err(|_| corrupt())?,
                    scope,
                    patient: patient
                        .map(|p| p.parse().map_err(|_| corrupt()))
                        .transpose()?,
                }))
            }

            async fn refresh_token_session(
                &self,
                digest: &[u8; 32],
                now: medvault_domain::UnixMillis,
            ) -> Result<Option<(medvault_domain::SessionId, bool)>, $crate::StoreError> {
                let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT session_id, used_at, expires_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(digest.to_vec())
                .fetch_optional(&self.pool)
                .await?;
                let Some((session, used_at, expires_at)) = row else {
                    return Ok(None);
                };
                let session = $crate::sql::session_ids(vec![session])?.remove(0);
                Ok(Some((session, used_at.is_none() && expires_at > now.0)))
            }

            async fn oauth_grants_within(
                &self,
                sso_session: medvault_domain::SessionId,
            ) -> Result<Vec<medvault_domain::SessionId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT session_id FROM oauth_grants WHERE sso_session_id = $1 ORDER BY session_id",
                )
                .bind(sso_session.to_string())
                .fetch_all(&self.pool)
                .await?;
                $crate::sql::session_ids(ids)
            }

            async fn move_oauth_grants(
                &self,
                from: medvault_domain::SessionId,
                to: medvault_domain::SessionId,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query("UPDATE oauth_grants SET sso_session_id = $1 WHERE sso_session_id = $2")
                    .bind(to.to_string())
                    .bind(from.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn remembered_consent(
                &self,
                user: medvault_domain::UserId,
                client_id: &str,
            ) -> Result<Option<String>, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2",
                )
                .bind(user.to_string())
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn remember_consent(
                &self,
                user: medvault_domain::UserId,
                client_id: &str,
                scope: &str,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO oauth_consents (user_id, client_id, scope, granted_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (user_id, client_id)
                     DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                )
                .bind(user.to_string())
                .bind(client_id)
                .bind(scope)
                .bind(at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
