//! `AccessStore` statements.

/// Bumps a patient's access epoch on an open transaction.
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_bump_access_epoch {
    ($conn:expr, $patient:expr) => {
        sqlx::query(
            "INSERT INTO access_epochs (patient_id, epoch) VALUES ($1, 1)
             ON CONFLICT (patient_id) DO UPDATE SET epoch = access_epochs.epoch + 1",
        )
        .bind($patient.to_string())
        .execute($conn)
        .await?
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_access {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::AccessStore for $store {
            async fn policy_set(
                &self,
            ) -> Result<Option<$crate::PolicySetRecord>, $crate::StoreError> {
                let row: Option<(i64, String, i64, String)> = sqlx::query_as(
                    "SELECT version, text, created_at, created_by FROM access_policies
                      ORDER BY version DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql::rows::policy_set).transpose()
            }

            async fn policy_version(&self) -> Result<u64, $crate::StoreError> {
                let version: Option<i64> =
                    sqlx::query_scalar("SELECT max(version) FROM access_policies")
                        .fetch_one(&self.pool)
                        .await?;
                $crate::sql::rows::count(version.unwrap_or(0), "policy set")
            }

            async fn insert_policy_set(
                &self,
                replaces: u64,
                text: &str,
                at: medvault_domain::UnixMillis,
                by: &str,
            ) -> Result<u64, $crate::StoreError> {
                let version = replaces + 1;
                let value = i64::try_from(version)
                    .map_err(|_| $crate::StoreError::Backend("version out of range".into()))?;
                // The primary key makes two loads racing from one version conflict.
                sqlx::query(
                    "INSERT INTO access_policies (version, text, created_at, created_by)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(value)
                .bind(text)
                .bind(at.0)
                .bind(by)
                .execute(&self.pool)
                .await?;
                Ok(version)
            }

            async fn access_epoch(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<u64, $crate::StoreError> {
                let epoch: Option<i64> =
                    sqlx::query_scalar("SELECT epoch FROM access_epochs WHERE patient_id = $1")
                        .bind(patient.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                $crate::sql::rows::count(epoch.unwrap_or(0), "access epoch")
            }

            async fn insert_break_glass(
                &self,
                grant: &$crate::BreakGlassGrant,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO break_glass_grants
                       (id, user_id, patient_id, reason, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&grant.id)
                .bind(grant.user_id.to_string())
                .bind(grant.patient.to_string())
                .bind(&grant.reason_sealed)
                .bind(grant.created_at.0)
                .bind(grant.expires_at.0)
                .execute(&mut *tx)
                .await?;
                $crate::__sql_bump_access_epoch!(&mut *tx, grant.patient);
                tx.commit().await?;
                Ok(())
            }

            async fn live_break_glass(
                &self,
                patient: medvault_domain::PatientId,
                now: medvault_domain::UnixMillis,
            ) -> Result<Vec<$crate::BreakGlassGrant>, $crate::StoreError> {
                let rows: Vec<$crate::sql::rows::BreakGlassRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM break_glass_grants
                      WHERE patient_id = $1 AND expires_at > $2 ORDER BY created_at",
                    $crate::sql::rows::BREAK_GLASS_COLUMNS
                ))
                .bind(patient.to_string())
                .bind(now.0)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::sql::rows::break_glass)
                    .collect()
            }

            async fn break_glass_patients(
                &self,
                user: medvault_domain::UserId,
                now: medvault_domain::UnixMillis,
            ) -> Result<Vec<medvault_domain::PatientId>, $crate::StoreError> {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT patient_id FROM break_glass_grants
                      WHERE user_id = $1 AND expires_at > $2",
                )
                .bind(user.to_string())
                .bind(now.0)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|p| {
                        p.parse()
                            .map_err(|_| $crate::sql::rows::corrupt("break-glass grant"))
                    })
                    .collect()
            }

            async fn break_glass_grants(
                &self,
                before: Option<(medvault_domain::UnixMillis, String)>,
                limit: u32,
            ) -> Result<Vec<$crate::BreakGlassGrant>, $crate::StoreError> {
                let (at, id) = before.map_or((i64::MAX, String::new()), |(at, id)| (at.0, id));
                let rows: Vec<$crate::sql::rows::BreakGlassRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM break_glass_grants
                      WHERE created_at < $1 OR (created_at = $1 AND id < $2)
                      ORDER BY created_at DESC, id DESC LIMIT $3",
                    $crate::sql::rows::BREAK_GLASS_COLUMNS
                ))
                .bind(at)
                .bind(id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::sql::rows::break_glass)
                    .collect()
            }
        }
    };
}
