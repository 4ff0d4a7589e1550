//! `KeyShareStore` and `ErasureStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_erasure {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::KeyShareStore for $store {
            async fn insert_key_share(
                &self,
                share: &$crate::KeyShareRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO key_shares (patient_id, share, subject, created_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(share.patient.to_string())
                .bind(share.share.as_slice())
                .bind(&share.subject)
                .bind(share.created_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn key_share(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<$crate::KeyShareRecord, $crate::StoreError> {
                let row: $crate::sql::rows::KeyShareRow = sqlx::query_as(
                    "SELECT patient_id, share, subject, created_at FROM key_shares
                      WHERE patient_id = $1",
                )
                .bind(patient.to_string())
                .fetch_one(&self.pool)
                .await?;
                $crate::sql::rows::key_share(row)
            }

            async fn patients_by_subject(
                &self,
                subjects: &[String],
            ) -> Result<Vec<(String, medvault_domain::PatientId)>, $crate::StoreError> {
                let mut found = Vec::with_capacity(subjects.len());
                // One indexed lookup each: callers pass a page of audit entries at most.
                for subject in subjects {
                    let patient: Option<String> =
                        sqlx::query_scalar("SELECT patient_id FROM key_shares WHERE subject = $1")
                            .bind(subject)
                            .fetch_optional(&self.pool)
                            .await?;
                    if let Some(patient) = patient {
                        let patient = patient
                            .parse()
                            .map_err(|_| $crate::sql::rows::corrupt("key share"))?;
                        found.push((subject.clone(), patient));
                    }
                }
                Ok(found)
            }

            async fn patients_with_shares(
                &self,
                patients: &[medvault_domain::PatientId],
            ) -> Result<Vec<medvault_domain::PatientId>, $crate::StoreError> {
                if patients.is_empty() {
                    return Ok(Vec::new());
                }
                let placeholders: Vec<String> =
                    (1..=patients.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    "SELECT patient_id FROM key_shares WHERE patient_id IN ({}) ORDER BY patient_id",
                    placeholders.join(", ")
                );
                let mut query = sqlx::query_scalar(&sql);
                for patient in patients {
                    query = query.bind(patient.to_string());
                }
                let ids: Vec<String> = query.fetch_all(&self.pool).await?;
                ids.iter()
                    .map(|id| id.parse().map_err(|_| $crate::sql::rows::corrupt("key share")))
                    .collect()
            }

            async fn destroy_key_share(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM key_shares WHERE patient_id = $1")
                    .bind(patient.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO erased_patients (patient_id, erased_at) VALUES ($1, $2)
                     ON CONFLICT (patient_id) DO NOTHING",
                )
                .bind(patient.to_string())
                .bind($crate::sql::now_millis())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                // The deleted share's bytes: SQLite overwrites them in the database
                // (secure_delete), and truncating the write-ahead log drops its copy;
                // PostgreSQL keeps a dead tuple until VACUUM. Best effort, so neither ever
                // blocks an erasure: the share is gone for every reader either way.
                let scrub = match $crate::Store::backend(self) {
                    "postgres" => "VACUUM key_shares",
                    _ => "PRAGMA wal_checkpoint(TRUNCATE)",
                };
                let _best_effort = sqlx::query(scrub).execute(&self.pool).await;
                Ok(())
            }

            async fn was_erased(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<bool, $crate::StoreError> {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT erased_at FROM erased_patients WHERE patient_id = $1")
                        .bind(patient.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(found.is_some())
            }
        }

        #[$crate::sql::__async_trait]
        impl $crate::ErasureStore for $store {
            async fn place_legal_hold(
                &self,
                hold: &$crate::LegalHold,
            ) -> Result<(), $crate::StoreError> {
                let patient = hold.patient.to_string();
                let mut tx = self.pool.begin().await?;
                $crate::__lock_patient!(self, tx, &patient);
                let placed = sqlx::query(
                    "INSERT INTO legal_holds (patient_id, reason, placed_by, placed_at)
                     SELECT $1, $2, $3, $4
                      WHERE NOT EXISTS (SELECT 1 FROM erasures WHERE patient_id = $1)
                     ON CONFLICT (patient_id) DO UPDATE
                        SET reason = excluded.reason, placed_by = excluded.placed_by,
                            placed_at = excluded.placed_at",
                )
                .bind(&patient)
                .bind(&hold.reason)
                .bind(hold.placed_by.to_string())
                .bind(hold.placed_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if placed.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict);
                }
                Ok(())
            }

            async fn release_legal_hold(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<(), $crate::StoreError> {
                let deleted = sqlx::query("DELETE FROM legal_holds WHERE patient_id = $1")
                    .bind(patient.to_string())
                    .execute(&self.pool)
                    .await?;
                $crate::sql::one_row(deleted.rows_affected())
            }

            async fn legal_hold(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<Option<$crate::LegalHold>, $crate::StoreError> {
                let row: Option<$crate::sql::rows::LegalHoldRow> = sqlx::query_as(
                    "SELECT patient_id, reason, placed_by, placed_at FROM legal_holds
                      WHERE patient_id = $1",
                )
                .bind(patient.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::sql::rows::legal_hold).transpose()
            }

            async fn legal_holds(&self) -> Result<Vec<$crate::LegalHold>, $crate::StoreError> {
                let rows: Vec<$crate::sql::rows::LegalHoldRow> = sqlx::query_as(
                    "SELECT patient_id, reason, placed_by, placed_at FROM legal_holds
                      ORDER BY placed_at, patient_id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql::rows::legal_hold).collect()
            }

            async fn begin_erasure(
                &self,
                patient: medvault_domain::PatientId,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let patient = patient.to_string();
                let mut tx = self.pool.begin().await?;
                $crate::__lock_patient!(self, tx, &patient);
                let inserted = sqlx::query(
                    "INSERT INTO erasures (patient_id, requested_at)
                     SELECT $1, $2
                      WHERE NOT EXISTS (SELECT 1 FROM legal_holds WHERE patient_id = $1)
                     ON CONFLICT (patient_id) DO NOTHING",
                )
                .bind(&patient)
                .bind(at.0)
                .execute(&mut *tx)
                .await?;
                let queued: Option<i64> =
                    sqlx::query_scalar("SELECT requested_at FROM erasures WHERE patient_id = $1")
                        .bind(&patient)
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                match (inserted.rows_affected(), queued) {
                    (1, _) | (_, Some(_)) => Ok(()),
                    _ => Err($crate::StoreError::Conflict),
                }
            }

            async fn pending_erasures(
                &self,
            ) -> Result<Vec<medvault_domain::PatientId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT patient_id FROM erasures ORDER BY requested_at, patient_id",
                )
                .fetch_all(&self.pool)
                .await?;
                ids.iter()
                    .map(|id| id.parse().map_err(|_| $crate::sql::rows::corrupt("erasure")))
                    .collect()
            }

            async fn expired_records(
                &self,
                resource_type: medvault_domain::ResourceType,
                before: medvault_domain::UnixMillis,
                token: Option<&[u8]>,
                after: Option<&medvault_domain::FhirId>,
                limit: u32,
            ) -> Result<
                Vec<(medvault_domain::FhirId, Option<medvault_domain::PatientId>)>,
                $crate::StoreError,
            > {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT r.id, r.patient_id FROM fhir_resources r
                      WHERE r.resource_type = $1 AND r.last_updated < $2
                        AND ($3 IS NULL OR EXISTS (SELECT 1 FROM fhir_tokens t
                              WHERE t.resource_type = r.resource_type AND t.token = $3
                                AND t.id = r.id))
                        AND ($4 IS NULL OR r.id > $4)
                        AND NOT EXISTS (SELECT 1 FROM legal_holds h
                                         WHERE h.patient_id = r.patient_id)
                      ORDER BY r.id LIMIT $5",
                )
                .bind(resource_type.as_str())
                .bind(before.0)
                .bind(token)
                .bind(after.map(|id| id.as_str().to_owned()))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, patient)| {
                        let id = id.parse().map_err(|_| $crate::sql::rows::corrupt("record"))?;
                        let slot: medvault_domain::PatientId = patient
                            .parse()
                            .map_err(|_| $crate::sql::rows::corrupt("record"))?;
                        Ok((id, medvault_domain::Compartment::from_key_slot(slot).patient()))
                    })
                    .collect()
            }

            async fn purge_records(
                &self,
                resource_type: medvault_domain::ResourceType,
                ids: &[medvault_domain::FhirId],
            ) -> Result<(u64, u64), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let (mut resources, mut versions) = (0, 0);
                for id in ids {
                    // A hold placed since the resource was found still wins.
                    let found: Option<(String, Option<String>)> = sqlx::query_as(
                        "SELECT r.patient_id, h.patient_id FROM fhir_resources r
                           LEFT JOIN legal_holds h ON h.patient_id = r.patient_id
                          WHERE r.resource_type = $1 AND r.id = $2",
                    )
                    .bind(resource_type.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let patient = match found {
                        Some((patient, None)) => patient,
                        _ => continue,
                    };
                    // A purged consent or care team changes who may see the rest.
                    $crate::__sql_bump_access_epoch!(&mut *tx, patient);
                    for table in ["fhir_tokens", "fhir_versions", "fhir_resources"] {
                        let deleted = sqlx::query(&format!(
                            "DELETE FROM {table} WHERE resource_type = $1 AND id = $2"
                        ))
                        .bind(resource_type.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                        match table {
                            "fhir_versions" => versions += deleted.rows_affected(),
                            "fhir_resources" => resources += deleted.rows_affected(),
                            _ => {}
                        }
                    }
                }
                tx.commit().await?;
                Ok((resources, versions))
            }

            async fn expired_patients(
                &self,
                before: medvault_domain::UnixMillis,
                after: Option<medvault_domain::PatientId>,
                limit: u32,
            ) -> Result<Vec<medvault_domain::PatientId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT r.patient_id FROM fhir_resources r
                      WHERE r.patient_id <> $1 AND ($4 IS NULL OR r.patient_id > $4)
                        AND NOT EXISTS (SELECT 1 FROM legal_holds h
                                         WHERE h.patient_id = r.patient_id)
                      GROUP BY r.patient_id HAVING max(r.last_updated) < $2
                      ORDER BY r.patient_id LIMIT $3",
                )
                .bind(medvault_domain::Compartment::SYSTEM_KEY_SLOT.to_string())
                .bind(before.0)
                .bind(i64::from(limit))
                .bind(after.map(|p| p.to_string()))
                .fetch_all(&self.pool)
                .await?;
                ids.iter()
                    .map(|id| id.parse().map_err(|_| $crate::sql::rows::corrupt("record")))
                    .collect()
            }

            async fn complete_erasure(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<$crate::ErasedRows, $crate::StoreError> {
                let patient = patient.to_string();
                let mut tx = self.pool.begin().await?;
                let queued = sqlx::query("DELETE FROM erasures WHERE patient_id = $1")
                    .bind(&patient)
                    .execute(&mut *tx)
                    .await?;
                $crate::sql::one_row(queued.rows_affected())?;
                sqlx::query(
                    "DELETE FROM fhir_tokens WHERE (resource_type, id) IN
                        (SELECT resource_type, id FROM fhir_resources WHERE patient_id = $1)",
                )
                .bind(&patient)
                .execute(&mut *tx)
                .await?;
                let versions = sqlx::query("DELETE FROM fhir_versions WHERE patient_id = $1")
                    .bind(&patient)
                    .execute(&mut *tx)
                    .await?;
                let resources = sqlx::query("DELETE FROM fhir_resources WHERE patient_id = $1")
                    .bind(&patient)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM data_keys WHERE patient_id = $1")
                    .bind(&patient)
                    .execute(&mut *tx)
                    .await?;
                // Grants and epochs carry only ids, but ids that would still link an
                // erased patient to the staff who treated them.
                for table in ["break_glass_grants", "access_epochs"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE patient_id = $1"))
                        .bind(&patient)
                        .execute(&mut *tx)
                        .await?;
                }
                let users = sqlx::query("DELETE FROM users WHERE patient_id = $1")
                    .bind(&patient)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::ErasedRows {
                    resources: resources.rows_affected(),
                    versions: versions.rows_affected(),
                    users: users.rows_affected(),
                })
            }
        }
    };
}

/// Serialises, within `$tx`, everything that decides a patient's fate (legal holds and
/// erasures): PostgreSQL takes a transaction-scoped advisory lock on the patient; SQLite
/// has one writer at a time already.
#[doc(hidden)]
#[macro_export]
macro_rules! __lock_patient {
    ($store:expr, $tx:ident, $patient:expr) => {
        if $crate::Store::backend($store) == "postgres" {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind($patient)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
