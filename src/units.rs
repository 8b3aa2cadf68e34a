//! Parsing and printing of the sizes and durations used in policy spec strings.
//!
//! Sizes: a bare number is bytes; `B`, `KiB`, `MiB`, `GiB`, `TiB` (powers of
//! 1024) and `KB`, `MB`, `GB`, `TB` (powers of 1000), case-insensitive.
//! Durations: a bare number is seconds; otherwise one or more `<number><unit>`
//! parts with `us`, `ms`, `s`, `m`, `h`, `d` (`1h30m`, `250ms`, `1.5s`).
//! Internally durations are whole microseconds.

/// Why a value did not parse; the policy layer adds the key and the value.
pub(crate) type UnitError = &'static str;

const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

const DURATION_UNITS: &[(&str, u64)] = &[
    ("us", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
];

/// Splits `12.5MiB` into (`12.5`, `MiB`).
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Multiplies a decimal number given as text by `scale`, rounding to the
/// nearest whole unit, without going through a float for integer inputs.
fn scaled(number: &str, scale: u64) -> Result<u64, UnitError> {
    if number.is_empty() || number == "." {
        return Err("expected a number");
    }
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if frac.contains('.') {
        return Err("expected a number");
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| "number too large")?
    };
    let mut value = whole.checked_mul(scale).ok_or("number too large")?;
    if !frac.is_empty() {
        // Exact decimal arithmetic on up to 18 fractional digits.
        let digits = &frac[..frac.len().min(18)];
        let num: u128 = digits.parse().map_err(|_| "expected a number")?;
        let den: u128 = 10u128.pow(digits.len() as u32);
        let part = (num * scale as u128 + den / 2) / den;
        value = value
            .checked_add(u64::try_from(part).map_err(|_| "number too large")?)
            .ok_or("number too large")?;
    }
    // A limit of 0 is off: a non-zero value that rounds to 0 must not
    // silently turn its rule off.
    if value == 0 && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err("not 0, but rounds to 0 (below the smallest step, 1 byte or 1 us), which would turn the rule off");
    }
    Ok(value)
}

fn reject_sign(s: &str) -> Result<(), UnitError> {
    if s.starts_with('-') {
        Err("must not be negative")
    } else if s.starts_with('+') {
        Err("expected a number without a sign")
    } else {
        Ok(())
    }
}

/// Parses a size in bytes.
pub(crate) fn parse_size(s: &str) -> Result<u64, UnitError> {
    reject_sign(s)?;
    let (number, unit) = split_number(s);
    let scale = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, scale)| scale)
            .ok_or("unknown size unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)")?
    };
    scaled(number, scale)
}

/// Parses a duration into microseconds.
pub(crate) fn parse_duration_us(s: &str) -> Result<u64, UnitError> {
    reject_sign(s)?;
    let (number, rest) = split_number(s);
    if rest.is_empty() {
        return scaled(number, 1_000_000);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let (number, tail) = split_number(rest);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err("every number in a compound duration needs a unit");
        }
        let scale = DURATION_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, scale)| scale)
            .ok_or("unknown duration unit (use us, ms, s, m, h or d)")?;
        total = total
            .checked_add(scaled(number, scale)?)
            .ok_or("number too large")?;
        rest = tail;
    }
    Ok(total)
}

/// Parses a decimal (`12.5`) into hundredths (1250), for percentages.
pub(crate) fn parse_hundredths(s: &str) -> Result<u64, String> {
    reject_sign(s)?;
    let (number, rest) = split_number(s);
    if !rest.is_empty() {
        return Err("expected a number before %".into());
    }
    Ok(scaled(number, 100)?)
}

/// Writes hundredths as a decimal without trailing zeros (1250: `12.5`).
pub(crate) fn format_hundredths(h: u64) -> String {
    match h % 100 {
        0 => (h / 100).to_string(),
        f if f % 10 == 0 => format!("{}.{}", h / 100, f / 10),
        f => format!("{}.{f:02}", h / 100),
    }
}

/// Parses a plain count.
pub(crate) fn parse_count(s: &str) -> Result<u64, UnitError> {
    reject_sign(s)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number");
    }
    s.parse().map_err(|_| "number too large")
}

/// The binary size units, largest first, for printing.
const BINARY_UNITS: [(&str, u64); 4] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

/// Prints a size with the largest binary unit that divides it exactly.
pub(crate) fn format_size(bytes: u64) -> String {
    for (name, scale) in BINARY_UNITS {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{}", bytes / scale, name);
        }
    }
    format!("{bytes}B")
}

/// Prints a size for people, to one decimal in the largest binary unit it
/// reaches (`64.3MiB`, `300MiB`, `512B`): for decisions and logs, not specs.
pub(crate) fn human_size(bytes: u64) -> String {
    HumanSize(bytes).to_string()
}

/// `human_size` as a `Display`, which writes without allocating: the
/// watchdog prints decisions beside threads that may hold the allocator's
/// lock.
pub(crate) struct HumanSize(pub u64);

impl std::fmt::Display for HumanSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.0;
        for (name, scale) in BINARY_UNITS {
            // Rounded first, so 1023.96MiB is written as 1GiB.
            let tenths = (bytes as u128 * 10 + scale as u128 / 2) / scale as u128;
            if tenths >= 10 {
                return if tenths % 10 == 0 {
                    write!(f, "{}{name}", tenths / 10)
                } else {
                    write!(f, "{}.{}{name}", tenths / 10, tenths % 10)
                };
            }
        }
        write!(f, "{bytes}B")
    }
}

/// Prints a duration as a compound such as `1h30m` or `1s250ms`.
pub(crate) fn format_duration_us(us: u64) -> String {
    if us == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = us;
    for &(name, scale) in DURATION_UNITS.iter().rev() {
        if rest >= scale {
            out.push_str(&format!("{}{}", rest / scale, name));
            rest %= scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("2gb"), Ok(2_000_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1.2.3MiB").is_err());
        assert_eq!(format_size(512 << 20), "512MiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(0), "0B");
        assert_eq!(human_size(67_387_392), "64.3MiB");
        assert_eq!(human_size(64 << 20), "64MiB");
        assert_eq!(human_size((1 << 30) - 1), "1GiB");
        assert_eq!(human_size(1536), "1.5KiB");
        assert_eq!(human_size(900), "900B");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("1h30m"), Ok(5_400_000_000));
        assert_eq!(parse_duration_us("250ms"), Ok(250_000));
        assert_eq!(parse_duration_us("1.5"), Ok(1_500_000));
        assert_eq!(parse_duration_us("2d"), Ok(172_800_000_000));
        assert!(parse_duration_us("1h30").is_err());
        assert!(parse_duration_us("5 parsecs").is_err());
        assert!(parse_duration_us("-5s").is_err());
        assert_eq!(format_duration_us(5_400_000_000), "1h30m");
        assert_eq!(format_duration_us(1_250_000), "1s250ms");
        assert_eq!(format_duration_us(1), "1us");
    }

    #[test]
    fn a_limit_that_rounds_to_zero_is_an_error_not_off() {
        assert!(parse_duration_us("0.4us").is_err());
        assert!(parse_duration_us("0.0000001").is_err());
        assert!(parse_size("0.4B").is_err());
        assert_eq!(parse_duration_us("0.5us"), Ok(1));
        assert_eq!(parse_duration_us("0"), Ok(0));
        assert_eq!(parse_duration_us("0.000s"), Ok(0));
        assert_eq!(parse_size("0KiB"), Ok(0));
        let e = crate::Policy::parse("request_timeout=0.4us").unwrap_err();
        assert!(e.to_string().contains("request_timeout") && e.to_string().contains("0.4us"));
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1000"), Ok(1000));
        assert!(parse_count("1e3").is_err());
        assert!(parse_count("").is_err());
        assert!(parse_count("-3").is_err());
        assert!(parse_count("99999999999999999999999").is_err());
    }
}
