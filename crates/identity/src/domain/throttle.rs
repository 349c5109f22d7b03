//! ID-1: brute-force back-off. Each failure doubles-ish the wait (1 s, then
//! ×1.8 per further failure, capped at one hour), per account and per client
//! address; the state lives in the database so that every node applies it.

/// The wait after `failures` consecutive failures, in milliseconds.
pub fn delay_ms(failures: i64) -> i64 {
    if failures <= 0 {
        return 0;
    }
    let ms = 1000.0 * 1.8f64.powi((failures - 1).min(40) as i32);
    (ms as i64).min(3_600_000)
}

/// "dans 12 secondes", "dans 3 minutes", "dans 1 heure": when to retry.
pub fn retry_in(ms: i64, fr: bool) -> String {
    let secs = (ms + 999) / 1000;
    let (n, fr_unit, en_unit) = if secs < 120 {
        (secs, "seconde", "second")
    } else if secs < 7200 {
        ((secs + 59) / 60, "minute", "minute")
    } else {
        ((secs + 3599) / 3600, "heure", "hour")
    };
    let plural = if n > 1 { "s" } else { "" };
    if fr {
        format!("dans {n} {fr_unit}{plural}")
    } else {
        format!("in {n} {en_unit}{plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_second_then_times_1_8_capped_at_an_hour_id_1() {
        assert_eq!(delay_ms(0), 0);
        assert_eq!(delay_ms(1), 1000);
        assert_eq!(delay_ms(2), 1800);
        assert_eq!(delay_ms(3), 3240);
        assert_eq!(delay_ms(4), 5832);
        // 1.8^14 = 3713.7… s > 1 h: capped.
        assert_eq!(delay_ms(15), 3_600_000);
        assert_eq!(delay_ms(1000), 3_600_000);
        assert_eq!(retry_in(1000, true), "dans 1 seconde");
        assert_eq!(retry_in(5832, true), "dans 6 secondes");
        assert_eq!(retry_in(600_000, true), "dans 10 minutes");
        assert_eq!(retry_in(3_600_000, false), "in 60 minutes");
    }

    proptest! {
        #[test]
        fn the_wait_never_shrinks_and_never_passes_an_hour(n in 1i64..200) {
            prop_assert!(delay_ms(n) <= delay_ms(n + 1));
            prop_assert!(delay_ms(n) <= 3_600_000);
        }
    }
}
