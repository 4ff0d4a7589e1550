//! The wall clock, in the unit every stored time uses.

use medvault_domain::UnixMillis;

pub fn now() -> UnixMillis {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system clock is after 1970");
    UnixMillis(
        i64::try_from(since_epoch.as_millis())
            .expect("milliseconds fit in i64 until year 292 million"),
    )
}
