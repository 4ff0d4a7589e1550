//! The login limits in Redis, so a fleet of instances enforces one limit (`--redis-url`).
//!
//! Same rules as the in-process [`super::LoginLimits`]; the per-address allowance is a
//! sliding window over two fixed buckets (the standard approximation of a moving count).
//! Keys expire by themselves, so Redis holds nothing that no longer restricts anyone.

use std::net::IpAddr;

use medvault_domain::UnixMillis;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use super::limits::{FailureEffect, LimitsConfig, Throttled};

#[derive(Clone)]
pub struct SharedLimits {
    redis: ConnectionManager,
    prefix: String,
    config: LimitsConfig,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedLimits {
    /// Connects and checks that Redis answers.
    pub async fn connect(
        url: &str,
        prefix: String,
        config: LimitsConfig,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let mut redis = ConnectionManager::new(client).await?;
        let _: String = redis::cmd("PING").query_async(&mut redis).await?;
        Ok(Self {
            redis,
            prefix,
            config,
        })
    }

    /// Accounts are keyed by a hash: Redis never holds an email address.
    fn account_key(&self, account: &str) -> String {
        format!(
            "{}:acct:{}",
            self.prefix,
            crate::hex::encode(&Sha256::digest(account.as_bytes()))
        )
    }

    fn window_ms(&self) -> i64 {
        self.config.ip_window_secs * 1000
    }

    fn address_key(&self, address: IpAddr, bucket: i64) -> String {
        format!("{}:ip:{address}:{bucket}", self.prefix)
    }

    /// Failures from `address` in the last window (sliding estimate).
    async fn address_failures(&self, address: IpAddr, now: UnixMillis) -> redis::RedisResult<f64> {
        let window = self.window_ms();
        let bucket = now.0.div_euclid(window);
        let keys = [
            self.address_key(address, bucket - 1),
            self.address_key(address, bucket),
        ];
        let (previous, current): (Option<f64>, Option<f64>) =
            self.redis.clone().mget(&keys).await?;
        let elapsed = now.0.rem_euclid(window) as f64 / window as f64;
        Ok(previous.unwrap_or(0.0) * (1.0 - elapsed) + current.unwrap_or(0.0))
    }

    pub async fn check(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
        now: UnixMillis,
    ) -> redis::RedisResult<Result<(), Throttled>> {
        if let Some(address) = address {
            if self.address_failures(address, now).await? >= f64::from(self.config.ip_failures) {
                // Conservative: the estimate is sure to have dropped once the window has moved on.
                let wait = (self.window_ms() - now.0.rem_euclid(self.window_ms())) / 1000;
                return Ok(Err(Throttled {
                    retry_after_secs: u64::try_from(wait).unwrap_or(1).max(1),
                }));
            }
        }
        let Some(account) = account else {
            return Ok(Ok(()));
        };
        let key = self.account_key(account);
        let mut redis = self.redis.clone();
        let (failures, last, locked_until): (Option<u32>, Option<i64>, Option<i64>) =
            redis.hget(&key, &["f", "l", "u"]).await?;
        let wait_until = |at: i64| Throttled {
            retry_after_secs: u64::try_from((at - now.0 + 999) / 1000).unwrap_or(1).max(1),
        };
        if let Some(until) = locked_until {
            if now.0 < until {
                return Ok(Err(wait_until(until)));
            }
            let _: i64 = redis.del(&key).await?;
            return Ok(Ok(()));
        }
        let failures = failures.unwrap_or(0);
        if failures >= self.config.backoff_after {
            let exponent = (failures - self.config.backoff_after).min(20);
            let allowed_at =
                last.unwrap_or(0) + (1i64 << exponent).min(self.config.lock_secs) * 1000;
            if now.0 < allowed_at {
                return Ok(Err(wait_until(allowed_at)));
            }
        }
        Ok(Ok(()))
    }

    pub async fn failed(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
        now: UnixMillis,
    ) -> redis::RedisResult<FailureEffect> {
        let mut effect = FailureEffect::default();
        let mut redis = self.redis.clone();
        if let Some(account) = account {
            let key = self.account_key(account);
            let failures: u32 = redis.hincr(&key, "f", 1).await?;
            let _: () = redis.hset(&key, "l", now.0).await?;
            if failures >= self.config.lock_after {
                let until = now.0 + self.config.lock_secs * 1000;
                effect.account_locked = redis.hset_nx(&key, "u", until).await?;
            }
            let _: bool = redis
                .pexpire(&key, self.config.lock_secs * 1000 + 3_600_000)
                .await?;
        }
        if let Some(address) = address {
            let bucket = now.0.div_euclid(self.window_ms());
            let key = self.address_key(address, bucket);
            let _: i64 = redis.incr(&key, 1).await?;
            let _: bool = redis.pexpire(&key, 2 * self.window_ms()).await?;
            let after = self.address_failures(address, now).await?;
            let limit = f64::from(self.config.ip_failures);
            effect.address_blocked = after >= limit && after - 1.0 < limit;
        }
        Ok(effect)
    }

    pub async fn pressure(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
        now: UnixMillis,
    ) -> redis::RedisResult<(u32, u32)> {
        let address_failures = match address {
            Some(address) => self.address_failures(address, now).await?.round() as u32,
            None => 0,
        };
        let account_failures = match account {
            Some(account) => self
                .redis
                .clone()
                .hget::<_, _, Option<u32>>(self.account_key(account), "f")
                .await?
                .unwrap_or(0),
            None => 0,
        };
        Ok((address_failures, account_failures))
    }

    /// A success or an admin's unlock clears the account.
    pub async fn clear(&self, account: &str) -> redis::RedisResult<()> {
        let _: i64 = self.redis.clone().del(self.account_key(account)).await?;
        Ok(())
    }

    /// Credential-stuffing counters shared by the fleet: distinct accounts failing from one
    /// address, and distinct addresses failing on one account, per fixed window. Each
    /// crossing is reported once per window by whichever instance sees it first.
    pub async fn stuffing_failed(
        &self,
        account: &str,
        address: IpAddr,
        now: UnixMillis,
        config: super::stuffing::StuffingConfig,
    ) -> redis::RedisResult<super::stuffing::Suspicion> {
        let window_ms = config.window_secs * 1000;
        let bucket = now.0.div_euclid(window_ms);
        let account_hash = crate::hex::encode(&Sha256::digest(account.as_bytes()));
        let by_address = format!("{}:stuff:ip:{address}:{bucket}", self.prefix);
        let by_account = format!("{}:stuff:acct:{account_hash}:{bucket}", self.prefix);
        let spraying = self
            .crossed(
                &by_address,
                &account_hash,
                config.accounts_per_address,
                window_ms,
            )
            .await?;
        let targeted = self
            .crossed(
                &by_account,
                &address.to_string(),
                config.addresses_per_account,
                window_ms,
            )
            .await?;
        Ok(super::stuffing::Suspicion { spraying, targeted })
    }

    /// Adds `member` to the set at `key`; true once, when the set first holds `threshold`.
    async fn crossed(
        &self,
        key: &str,
        member: &str,
        threshold: usize,
        window_ms: i64,
    ) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let _: i64 = redis.sadd(key, member).await?;
        let _: bool = redis.pexpire(key, 2 * window_ms).await?;
        let size: usize = redis.scard(key).await?;
        if size < threshold {
            return Ok(false);
        }
        let reported: Option<String> = redis::cmd("SET")
            .arg(format!("{key}:reported"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(2 * window_ms)
            .query_async(&mut redis)
            .await?;
        Ok(reported.is_some())
    }

    /// Marks a challenge used; `false` when some instance already accepted it.
    pub async fn spend_challenge(
        &self,
        prefix: &[u8],
        expires_at: i64,
    ) -> redis::RedisResult<bool> {
        let key = format!("{}:challenge:{}", self.prefix, crate::hex::encode(prefix));
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("EXAT")
            .arg(expires_at)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(set.is_some())
    }
}
