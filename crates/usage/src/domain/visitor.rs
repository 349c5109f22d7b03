//! DATA-2: counting visitors without tracking them. A visitor is the hash of
//! (salt of the day, service, truncated address, user agent): the same
//! person on the same service the same day counts once; the next day, with
//! a new salt, the hash is another; two services never share one. The raw
//! address is only read here and never stored.

use std::net::IpAddr;

use ring::digest;

/// The address with its last bits cleared, as CNIL's audience-measurement
/// exemption asks: an IPv4 address to its /24, an IPv6 one to its /48. An
/// IPv4 address mapped into IPv6 is treated as IPv4.
pub fn truncate(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => truncate(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
            }
        },
    }
}

/// The visitor's hash for `service` on the day of `salt`: 128 bits, hex.
/// Without an address there is nothing to count a visitor by: `None`.
pub fn visitor(
    salt: &[u8],
    service_id: i64,
    address: Option<IpAddr>,
    user_agent: &str,
) -> Option<String> {
    let address = truncate(address?);
    let mut ctx = digest::Context::new(&digest::SHA256);
    // Lengths and separators keep the fields apart: ("a", "bc") and
    // ("ab", "c") must not hash alike.
    ctx.update(&(salt.len() as u64).to_be_bytes());
    ctx.update(salt);
    ctx.update(&service_id.to_be_bytes());
    ctx.update(address.to_string().as_bytes());
    ctx.update(b"\0");
    ctx.update(user_agent.as_bytes());
    Some(hex::encode(&ctx.finish().as_ref()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_cut_to_24_and_48_bits_data_2() {
        assert_eq!(truncate(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(
            truncate(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348")),
            ip("2001:db8:85a3::")
        );
        assert_eq!(truncate(ip("::ffff:203.0.113.77")), ip("203.0.113.0"));
    }

    #[test]
    fn a_visitor_is_the_same_within_a_day_and_service_only_data_2() {
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
        let day1 = visitor(b"salt-of-monday", 1, Some(ip("203.0.113.77")), ua).unwrap();
        assert_eq!(day1.len(), 32, "128 bits in hex");
        // Same /24, same browser, same day and service: the same visitor.
        assert_eq!(
            visitor(b"salt-of-monday", 1, Some(ip("203.0.113.9")), ua).unwrap(),
            day1
        );
        // Another day, service, network or browser: another visitor.
        for other in [
            visitor(b"salt-of-tuesday", 1, Some(ip("203.0.113.77")), ua),
            visitor(b"salt-of-monday", 2, Some(ip("203.0.113.77")), ua),
            visitor(b"salt-of-monday", 1, Some(ip("203.0.114.77")), ua),
            visitor(b"salt-of-monday", 1, Some(ip("203.0.113.77")), "curl/8.0"),
        ] {
            assert_ne!(other.unwrap(), day1);
        }
        assert_eq!(visitor(b"salt-of-monday", 1, None, ua), None);
    }
}
