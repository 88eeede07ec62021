//! What a job cost, in the vendor's own unit, and what a unit is worth to the caller.
//!
//! Vendors count differently: online-convert and CloudConvert in credits, ConvertAPI in
//! conversions (`ConversionCost`; seconds in its older `ConversionTime`). A [`Cost`] keeps the
//! vendor's amount and unit as reported; a [`Price`] the caller sets per provider instance
//! (`MULTICONVERT_PRICE_<INSTANCE>`, see [`config::price_from_lookup`](crate::config::price_from_lookup))
//! turns it into the caller's money, so that vendors compare.
//!
//! ```
//! use multiconvert_core::cost::{Cost, Price};
//!
//! let cost = Cost::new(3, "credits");
//! let price: Price = "0.02".parse().unwrap();
//! assert_eq!(cost.to_string(), "3 credits");
//! assert!((price.of(&cost) - 0.06).abs() < 1e-12);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a job cost, as its vendor counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// How many units.
    pub amount: u64,
    /// The vendor's unit (`credits`, `conversions`, `seconds`).
    pub unit: Cow<'static, str>,
}

impl Cost {
    /// `amount` of `unit`.
    pub fn new(amount: u64, unit: impl Into<Cow<'static, str>>) -> Self {
        Cost {
            amount,
            unit: unit.into(),
        }
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.unit)
    }
}

/// What one unit of a provider's cost is worth to the caller, in the caller's currency (a
/// finite number, zero or more).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Price(f64);

impl Price {
    /// A price of `per_unit` a unit; `None` unless it is finite and not negative.
    pub fn per_unit(per_unit: f64) -> Option<Self> {
        (per_unit.is_finite() && per_unit >= 0.0).then_some(Price(per_unit))
    }

    /// Free: what an in-process engine costs.
    pub const FREE: Price = Price(0.0);

    /// The price of one unit.
    pub fn unit_price(&self) -> f64 {
        self.0
    }

    /// What `cost` comes to.
    pub fn of(&self, cost: &Cost) -> f64 {
        self.0 * cost.amount as f64
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} a unit", self.0)
    }
}

/// Why a price could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceError(String);

impl fmt::Display for PriceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a price: write what one unit of the vendor's cost is worth, a number \
             of zero or more (0.02)",
            self.0
        )
    }
}

impl std::error::Error for PriceError {}

impl FromStr for Price {
    type Err = PriceError;

    /// A plain decimal number: `0.02`, `1`, `0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<f64>()
            .ok()
            .and_then(Price::per_unit)
            .ok_or_else(|| PriceError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_finite_numbers_of_zero_or_more() {
        assert_eq!("0.5".parse::<Price>().unwrap().unit_price(), 0.5);
        assert_eq!(" 0 ".parse::<Price>().unwrap(), Price::FREE);
        for bad in ["", "-1", "inf", "NaN", "1e999", "two", "0.02 USD"] {
            let e = bad.parse::<Price>().unwrap_err();
            assert!(e.to_string().contains("is not a price"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_cost_reads_as_its_amount_and_unit_and_prices_by_the_unit() {
        let cost = Cost::new(4, "conversions");
        assert_eq!(cost.to_string(), "4 conversions");
        assert_eq!(Price::per_unit(0.25).unwrap().of(&cost), 1.0);
        assert_eq!(
            serde_json::to_value(&cost).unwrap(),
            serde_json::json!({"amount": 4, "unit": "conversions"})
        );
    }
}
