//! `OAuthClientStore` statements.

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
                        created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
    };
}
