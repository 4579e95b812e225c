//! What the examples share: size arguments.

/// `4096`, `64KiB`, `8MiB`, `1GiB` (also `K`, `M`, `G`).
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let shift = match unit {
        "" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return Err(format!("not a size: {s} (try 64KiB, 8MiB, 1GiB)")),
    };
    let n: usize = number.parse().map_err(|_| format!("not a size: {s}"))?;
    n.checked_mul(1 << shift)
        .ok_or(format!("size too large: {s}"))
}
