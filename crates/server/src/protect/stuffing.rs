//! Credential-stuffing detection: many distinct accounts failing from one address (a list
//! of stolen credentials tried from one place), and one account failing from many
//! addresses (a botnet on one target). Each raises one security event per window.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use medvault_domain::UnixMillis;

#[derive(Debug, Clone, Copy)]
pub struct StuffingConfig {
    /// Distinct accounts failing from one address within the window.
    pub accounts_per_address: usize,
    /// Distinct addresses failing on one account within the window.
    pub addresses_per_account: usize,
    pub window_secs: i64,
}

impl Default for StuffingConfig {
    fn default() -> Self {
        Self {
            accounts_per_address: 10,
            addresses_per_account: 5,
            window_secs: 3600,
        }
    }
}

/// What one more failure revealed (each at most once per window and key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Suspicion {
    /// This address is trying many accounts.
    pub spraying: bool,
    /// This account is being tried from many addresses.
    pub targeted: bool,
}

#[derive(Debug)]
struct Window<T> {
    started: UnixMillis,
    seen: HashSet<T>,
    reported: bool,
}

impl<T: Hash + Eq> Window<T> {
    fn new(now: UnixMillis) -> Self {
        Self {
            started: now,
            seen: HashSet::new(),
            reported: false,
        }
    }

    /// Adds `item`; true the first time the window holds `threshold` distinct items.
    fn add(&mut self, item: T, threshold: usize, window_secs: i64, now: UnixMillis) -> bool {
        if now >= self.started.plus_secs(window_secs) {
            *self = Self::new(now);
        }
        // Bounded: past the threshold nothing new needs remembering.
        if self.seen.len() < threshold {
            self.seen.insert(item);
        }
        if self.seen.len() >= threshold && !self.reported {
            self.reported = true;
            return true;
        }
        false
    }
}

#[derive(Debug, Default)]
pub struct StuffingDetector {
    config: StuffingConfig,
    /// Accounts are kept as hashes: the detector only needs to tell them apart.
    by_address: Mutex<HashMap<IpAddr, Window<u64>>>,
    by_account: Mutex<HashMap<String, Window<IpAddr>>>,
}

impl StuffingDetector {
    pub fn new(config: StuffingConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    pub fn config(&self) -> StuffingConfig {
        self.config
    }

    pub fn failed(&self, account: &str, address: IpAddr, now: UnixMillis) -> Suspicion {
        let c = self.config;
        let mut hasher = DefaultHasher::new();
        account.hash(&mut hasher);
        let spraying = self
            .by_address
            .lock()
            .expect("stuffing lock poisoned")
            .entry(address)
            .or_insert_with(|| Window::new(now))
            .add(hasher.finish(), c.accounts_per_address, c.window_secs, now);
        let targeted = self
            .by_account
            .lock()
            .expect("stuffing lock poisoned")
            .entry(account.to_owned())
            .or_insert_with(|| Window::new(now))
            .add(address, c.addresses_per_account, c.window_secs, now);
        Suspicion { spraying, targeted }
    }

    /// Drops windows that have run out.
    pub fn prune(&self, now: UnixMillis) {
        let live = |started: UnixMillis| now < started.plus_secs(self.config.window_secs);
        self.by_address
            .lock()
            .expect("stuffing lock poisoned")
            .retain(|_, w| live(w.started));
        self.by_account
            .lock()
            .expect("stuffing lock poisoned")
            .retain(|_, w| live(w.started));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, n])
    }

    #[test]
    fn one_address_trying_many_accounts_is_reported_once() {
        let detector = StuffingDetector::new(StuffingConfig {
            accounts_per_address: 3,
            ..StuffingConfig::default()
        });
        let reports: Vec<bool> = ["a", "b", "b", "c", "d"]
            .iter()
            .map(|a| detector.failed(a, ip(1), NOW).spraying)
            .collect();
        assert_eq!(reports, [false, false, false, true, false]);
        assert!(
            !detector.failed("e", ip(1), NOW.plus_secs(3600)).spraying,
            "a new window starts"
        );
    }

    #[test]
    fn one_account_tried_from_many_addresses_is_reported_once() {
        let detector = StuffingDetector::new(StuffingConfig {
            addresses_per_account: 3,
            ..StuffingConfig::default()
        });
        let reports: Vec<bool> = [1, 2, 2, 3, 4]
            .iter()
            .map(|n| detector.failed("jane", ip(*n), NOW).targeted)
            .collect();
        assert_eq!(reports, [false, false, false, true, false]);
    }
}
