//! Alive curves remembered per snapshot. A customer's costly BG/NBD figures (a dozen
//! hypergeometric series, see [`AliveCurve`]) depend on x and T alone, counted in whole days, so
//! at one as-of day a million buyers share a few tens of thousands of curves. The snapshot
//! computes the curves of all its buyers once (they rank the predicted value tier); a
//! classification on the same day finds its curve here instead of summing the series again.
//! The answer is the same either way: the memo holds exactly what [`alive_curve`] returns.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use rayon::prelude::*;

use super::bgnbd::BgNbdParams;
use super::clv::{alive_curve, AliveCurve};
use super::summary::TimeUnit;

/// Most curves added after the snapshot's own: requests at other days add some; this bounds
/// the memory they take (about 32 bytes each).
const MAX_LATER_CURVES: usize = 1 << 18;

/// (x = repeat purchase days, T = days from the first purchase day to the as-of day).
pub type CurveKey = (u32, i64);

/// Everything besides the key that a curve depends on. A lookup under another setting (a
/// snapshot value changed after the memo was filled) computes instead of reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveSetting {
    pub params: BgNbdParams,
    pub horizon_days: u32,
    pub annual_discount_rate: f64,
    pub unit: TimeUnit,
}

impl CurveSetting {
    /// The curve of `key` under this setting, computed.
    pub fn curve(&self, (repeat_days, age_days): CurveKey) -> AliveCurve {
        alive_curve(
            &self.params,
            repeat_days,
            self.unit.from_days(age_days as f64),
            self.horizon_days,
            self.annual_discount_rate,
            self.unit,
        )
    }
}

/// Keys are two small numbers from the server's own data, not chosen by a caller: a fast
/// fixed hash instead of the DoS-resistant default, which cost more than the lookup itself.
type Curves = HashMap<CurveKey, AliveCurve, foldhash::fast::FixedState>;

/// The curves of one snapshot: those of its buyers, filled once, and those asked for since.
#[derive(Default)]
pub struct CurveMemo {
    setting: OnceLock<CurveSetting>,
    filled: OnceLock<Curves>,
    later: RwLock<Curves>,
}

impl CurveMemo {
    /// Computes the curve of every key (on every core) and keeps them, unless the memo was
    /// filled already or belongs to another setting.
    pub fn fill(
        &self,
        setting: CurveSetting,
        mut keys: Vec<CurveKey>,
        compute: impl Fn(CurveKey) -> AliveCurve + Sync,
    ) {
        if *self.setting.get_or_init(|| setting) != setting || self.filled.get().is_some() {
            return;
        }
        keys.par_sort_unstable();
        keys.dedup();
        let curves = keys
            .into_par_iter()
            .map(|key| (key, compute(key)))
            .collect();
        let _ = self.filled.set(curves);
    }

    /// The curve of `key`: remembered, or computed (and remembered while there is room).
    pub fn curve(
        &self,
        setting: CurveSetting,
        key: CurveKey,
        compute: impl FnOnce() -> AliveCurve,
    ) -> AliveCurve {
        if *self.setting.get_or_init(|| setting) != setting {
            return compute();
        }
        if let Some(curve) = self.filled.get().and_then(|c| c.get(&key)) {
            return *curve;
        }
        if let Some(curve) = self.later.read().ok().and_then(|c| c.get(&key).copied()) {
            return curve;
        }
        let curve = compute();
        if let Ok(mut later) = self.later.write() {
            if later.len() < MAX_LATER_CURVES {
                later.insert(key, curve);
            }
        }
        curve
    }

    /// Curves held.
    pub fn len(&self) -> usize {
        let filled = self.filled.get().map_or(0, HashMap::len);
        filled + self.later.read().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A memo is a cache, not part of a snapshot's value: any two compare equal.
impl PartialEq for CurveMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for CurveMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveMemo")
            .field("curves", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(horizon_days: u32) -> CurveSetting {
        CurveSetting {
            params: BgNbdParams {
                r: 0.24,
                alpha: 4.41,
                a: 0.79,
                b: 2.43,
            },
            horizon_days,
            annual_discount_rate: 0.1,
            unit: TimeUnit::Days,
        }
    }

    fn curve(value: f64) -> AliveCurve {
        AliveCurve {
            expected_purchases: value,
            discounted_purchases: value / 2.0,
        }
    }

    #[test]
    fn filled_curves_are_read_back_and_others_computed_once() {
        let memo = CurveMemo::default();
        memo.fill(setting(365), vec![(1, 10), (2, 20), (1, 10)], |(x, t)| {
            curve(f64::from(x) + t as f64)
        });
        assert_eq!(memo.len(), 2);
        let never = || panic!("a filled curve is not computed again");
        assert_eq!(memo.curve(setting(365), (2, 20), never), curve(22.0));
        assert_eq!(memo.curve(setting(365), (3, 30), || curve(1.0)), curve(1.0));
        assert_eq!(memo.curve(setting(365), (3, 30), || curve(9.0)), curve(1.0));
        assert_eq!(memo.len(), 3);
    }

    #[test]
    fn another_setting_computes_instead_of_reading() {
        let memo = CurveMemo::default();
        memo.fill(setting(365), vec![(1, 10)], |_| curve(5.0));
        assert_eq!(memo.curve(setting(30), (1, 10), || curve(7.0)), curve(7.0));
        assert_eq!(memo.curve(setting(30), (1, 10), || curve(8.0)), curve(8.0));
        assert_eq!(memo.len(), 1);
    }
}
