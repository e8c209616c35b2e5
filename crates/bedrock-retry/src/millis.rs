//! Durations serialised as fractional milliseconds (`1.5` for 1,500 µs), the unit people read.

use std::time::Duration;

/// Serialises `d` as a number of milliseconds.
///
/// # Errors
/// Whatever the serializer returns.
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Serialises an optional duration as milliseconds, or `null`.
///
/// # Errors
/// Whatever the serializer returns.
pub fn serialize_option<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => serialize(d, s),
        None => s.serialize_none(),
    }
}
