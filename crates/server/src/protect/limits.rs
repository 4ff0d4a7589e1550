//! Login limits: exponential back-off and a temporary lock per account, and a failure
//! allowance per client address that recovers gradually (a token bucket).
//!
//! Checks run before any password hashing, so rejecting an attacker costs a hash-map lookup,
//! not an Argon2 hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use medvault_domain::UnixMillis;

#[derive(Debug, Clone, Copy)]
pub struct LimitsConfig {
    /// Failures after which each further attempt must wait 1 s, 2 s, 4 s, ...
    pub backoff_after: u32,
    /// Consecutive failures that lock the account.
    pub lock_after: u32,
    pub lock_secs: i64,
    /// Failed logins an address may have per window, across all accounts...
    pub ip_failures: u32,
    /// ...refilled evenly over this many seconds.
    pub ip_window_secs: i64,
}

impl Default for LimitsConfig {
    /// Auth0's attack-protection defaults: lock after 10, 100 failures a day per address.
    fn default() -> Self {
        Self {
            backoff_after: 5,
            lock_after: 10,
            lock_secs: 900,
            ip_failures: 100,
            ip_window_secs: 86_400,
        }
    }
}

/// The attempt is refused; try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
}

/// What a failure changed, for security events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureEffect {
    pub account_locked: bool,
    pub address_blocked: bool,
}

#[derive(Debug, Clone, Copy)]
struct AccountState {
    failures: u32,
    last_failure: UnixMillis,
    locked_until: Option<UnixMillis>,
}

#[derive(Debug, Clone, Copy)]
struct AddressState {
    /// Failures still allowed; refills continuously.
    allowance: f64,
    updated: UnixMillis,
}

#[derive(Debug)]
pub struct LoginLimits {
    config: LimitsConfig,
    accounts: Mutex<HashMap<String, AccountState>>,
    addresses: Mutex<HashMap<IpAddr, AddressState>>,
}

fn secs_until(now: UnixMillis, at: UnixMillis) -> u64 {
    u64::try_from((at.0 - now.0 + 999) / 1000)
        .unwrap_or(0)
        .max(1)
}

impl LoginLimits {
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            config,
            accounts: Mutex::default(),
            addresses: Mutex::default(),
        }
    }

    fn refill(&self, state: &mut AddressState, now: UnixMillis) {
        let per_ms =
            f64::from(self.config.ip_failures) / (self.config.ip_window_secs as f64 * 1000.0);
        let elapsed = (now.0 - state.updated.0).max(0) as f64;
        state.allowance =
            (state.allowance + elapsed * per_ms).min(f64::from(self.config.ip_failures));
        state.updated = now;
    }

    /// May `account` try to sign in from `address` now? `None` skips that limit (no account
    /// involved, or an allow-listed address).
    pub fn check(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
        now: UnixMillis,
    ) -> Result<(), Throttled> {
        if let Some(address) = address {
            let mut addresses = self.addresses.lock().expect("limits lock poisoned");
            if let Some(state) = addresses.get_mut(&address) {
                self.refill(state, now);
                if state.allowance < 1.0 {
                    let per_sec =
                        f64::from(self.config.ip_failures) / self.config.ip_window_secs as f64;
                    let wait = ((1.0 - state.allowance) / per_sec).ceil().max(1.0);
                    return Err(Throttled {
                        retry_after_secs: wait as u64,
                    });
                }
            }
        }
        let Some(account) = account else {
            return Ok(());
        };
        let mut accounts = self.accounts.lock().expect("limits lock poisoned");
        let Some(state) = accounts.get(account).copied() else {
            return Ok(());
        };
        if let Some(until) = state.locked_until {
            if now < until {
                return Err(Throttled {
                    retry_after_secs: secs_until(now, until),
                });
            }
            // The lock has run out: a fresh start.
            accounts.remove(account);
            return Ok(());
        }
        if state.failures >= self.config.backoff_after {
            let exponent = (state.failures - self.config.backoff_after).min(20);
            let wait = (1i64 << exponent).min(self.config.lock_secs);
            let allowed_at = state.last_failure.plus_secs(wait);
            if now < allowed_at {
                return Err(Throttled {
                    retry_after_secs: secs_until(now, allowed_at),
                });
            }
        }
        Ok(())
    }

    pub fn failed(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
        now: UnixMillis,
    ) -> FailureEffect {
        let mut effect = FailureEffect::default();
        if let Some(account) = account {
            let mut accounts = self.accounts.lock().expect("limits lock poisoned");
            let state = accounts.entry(account.to_owned()).or_insert(AccountState {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            state.failures += 1;
            state.last_failure = now;
            if state.failures >= self.config.lock_after && state.locked_until.is_none() {
                state.locked_until = Some(now.plus_secs(self.config.lock_secs));
                effect.account_locked = true;
            }
        }
        let Some(address) = address else {
            return effect;
        };
        let mut addresses = self.addresses.lock().expect("limits lock poisoned");
        let full = f64::from(self.config.ip_failures);
        let state = addresses.entry(address).or_insert(AddressState {
            allowance: full,
            updated: now,
        });
        self.refill(state, now);
        let before = state.allowance;
        state.allowance -= 1.0;
        effect.address_blocked = before >= 1.0 && state.allowance < 1.0;
        effect
    }

    /// Recent failures from `address` (in its window) and consecutive failures on `account`:
    /// the pressure that decides whether a proof-of-work challenge is needed.
    pub fn pressure(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
        now: UnixMillis,
    ) -> (u32, u32) {
        let full = f64::from(self.config.ip_failures);
        let address_failures = address.map_or(0, |address| {
            let mut addresses = self.addresses.lock().expect("limits lock poisoned");
            addresses.get_mut(&address).map_or(0, |state| {
                self.refill(state, now);
                (full - state.allowance).max(0.0).round() as u32
            })
        });
        let account_failures = account.map_or(0, |account| {
            let accounts = self.accounts.lock().expect("limits lock poisoned");
            accounts.get(account).map_or(0, |state| state.failures)
        });
        (address_failures, account_failures)
    }

    /// A correct password ends the account's run of failures (not the address's).
    pub fn succeeded(&self, account: &str) {
        self.accounts
            .lock()
            .expect("limits lock poisoned")
            .remove(account);
    }

    /// An admin's unlock.
    pub fn unlock(&self, account: &str) {
        self.accounts
            .lock()
            .expect("limits lock poisoned")
            .remove(account);
    }

    /// Forgets state that no longer restricts anything, so attacker-chosen account names
    /// and addresses cannot grow memory without bound.
    pub fn prune(&self, now: UnixMillis) {
        let config = self.config;
        self.accounts
            .lock()
            .expect("limits lock poisoned")
            .retain(|_, state| match state.locked_until {
                Some(until) => now < until,
                None => now < state.last_failure.plus_secs(config.lock_secs.max(3600)),
            });
        let full = f64::from(config.ip_failures);
        let mut addresses = self.addresses.lock().expect("limits lock poisoned");
        for state in addresses.values_mut() {
            self.refill(state, now);
        }
        addresses.retain(|_, state| state.allowance < full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn at(secs: i64) -> UnixMillis {
        UnixMillis(1_000_000_000_000 + secs * 1000)
    }

    #[test]
    fn back_off_grows_then_the_account_locks() {
        let limits = LoginLimits::new(LimitsConfig {
            ip_failures: 1000,
            ..LimitsConfig::default()
        });
        let mut now = 0;
        for n in 1..=10 {
            assert_eq!(
                limits.check(Some("a"), Some(IP), at(now)),
                Ok(()),
                "attempt {n}"
            );
            let effect = limits.failed(Some("a"), Some(IP), at(now));
            assert_eq!(effect.account_locked, n == 10);
            if (5..10).contains(&n) {
                let wait = 1 << (n - 5);
                assert_eq!(
                    limits.check(Some("a"), Some(IP), at(now)),
                    Err(Throttled {
                        retry_after_secs: wait
                    })
                );
                now += wait as i64;
            }
        }
        assert_eq!(
            limits.check(Some("a"), Some(IP), at(now + 899)),
            Err(Throttled {
                retry_after_secs: 1
            })
        );
        assert_eq!(
            limits.check(Some("b"), Some(IP), at(now)),
            Ok(()),
            "other accounts are unaffected"
        );
        assert_eq!(
            limits.check(Some("a"), Some(IP), at(now + 900)),
            Ok(()),
            "the lock expires"
        );
    }

    #[test]
    fn an_address_runs_out_of_failures_and_recovers_gradually() {
        let limits = LoginLimits::new(LimitsConfig {
            ip_failures: 3,
            ip_window_secs: 300,
            ..LimitsConfig::default()
        });
        for (n, account) in ["a", "b", "c"].iter().enumerate() {
            let effect = limits.failed(Some(account), Some(IP), at(0));
            assert_eq!(effect.address_blocked, n == 2);
        }
        assert_eq!(
            limits.check(Some("d"), Some(IP), at(0)),
            Err(Throttled {
                retry_after_secs: 100
            })
        );
        assert_eq!(
            limits.check(Some("d"), Some(IP), at(100)),
            Ok(()),
            "one failure's worth refilled"
        );
    }

    #[test]
    fn success_and_unlock_clear_the_account() {
        let limits = LoginLimits::new(LimitsConfig {
            lock_after: 2,
            ..LimitsConfig::default()
        });
        limits.failed(Some("a"), Some(IP), at(0));
        limits.succeeded("a");
        limits.failed(Some("a"), Some(IP), at(0));
        assert_eq!(
            limits.check(Some("a"), Some(IP), at(0)),
            Ok(()),
            "one failure since the success"
        );
        limits.failed(Some("a"), Some(IP), at(0));
        assert!(limits.check(Some("a"), Some(IP), at(0)).is_err());
        limits.unlock("a");
        assert_eq!(limits.check(Some("a"), Some(IP), at(0)), Ok(()));
    }
}
