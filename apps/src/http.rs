//! The bits of HTTP both sides need: request and response heads, and test content.

/// Finds the end of the head (`\r\n\r\n`); returns the head length including it.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The path of a `GET <path> HTTP/1.x` request head, and whether the connection stays open
/// (HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: Keep-Alive`).
pub fn parse_request(head: &[u8]) -> Option<(&str, bool)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut words = text.lines().next()?.split_whitespace();
    if words.next()? != "GET" {
        return None;
    }
    let path = words.next()?;
    let version = words.next()?;
    let connection = |word: &str| {
        text.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("connection:") && l.contains(word)
        })
    };
    let keep = if version == "HTTP/1.1" {
        !connection("close")
    } else {
        connection("keep-alive")
    };
    Some((path, keep))
}

/// Status code and `Content-Length` of a response head.
pub fn parse_response(head: &[u8]) -> Option<(u16, Option<usize>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let len = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    });
    Some((status, len))
}

/// Deterministic file content: `len` bytes that differ with `seed` and position, so a
/// misplaced or corrupted byte shows.
pub fn test_content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) ^ u32::from(seed);
            b'a' + (x % 26) as u8
        })
        .collect()
}

/// The `Date` header value (RFC 7231 IMF-fixdate) for `secs` since the epoch.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse() {
        let req = b"GET /a.html HTTP/1.0\r\nHost: x\r\nConnection: Close\r\n\r\n";
        assert_eq!(head_len(req), Some(req.len()));
        assert_eq!(parse_request(req), Some(("/a.html", false)));
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Some(("/", true)));
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\n\r\n"), None);
        let ab = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        assert_eq!(parse_request(ab), Some(("/", true)));
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(parse_response(resp), Some((200, Some(12))));
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_ne!(test_content(64, 1), test_content(64, 2));
    }
}
